/**
 * The loop: wires the parts (objective, parameterisation, optimiser, transforms) into the
 * article's multi-scale ascent for a batch of images, one per filter. It only wires:
 * each part lives in its own file.
 */
import type { Engine } from '../engine/engine.js';
import { adamScalars, createAdam, type AdamOptions } from './adam.js';
import { evaluateObjective, type Objective } from './objective.js';
import { imagesToParams, noiseImage, paramsToImages, type PixelSpace } from './parameterization.js';
import { scaleSizes, type MethodParams } from '../schema/article-params.js';
import { boxBlur, clip01, resizeBicubic } from './transforms.js';

export interface AscentInput {
  objective: Objective;
  /** The filter of each image (one image each). */
  filters: readonly number[];
  params: MethodParams;
  learningRate: number;
  seed: number;
  space: PixelSpace;
  signal?: AbortSignal;
  /** Start images (NCHW RGB at params.startSize) instead of each filter's seeded noise, e.g. a photo. */
  start?: Float32Array;
  /** Called after every step with the number of steps done, for progress. */
  onStep?: (done: number, total: number) => void;
}

export interface AscentResult {
  /** The last scale's images, denormalised to RGB (not clipped), NCHW. */
  images: Float32Array;
  /** Side of each image (its height). */
  size: number;
  /** Width when it is not `size` (a lucid diversity group side by side). */
  width?: number;
  /** Objective at the first step (the noise). */
  start: Float64Array;
  /** Highest objective seen at any step. */
  best: Float64Array;
  /** Whether the engine ever returned a non-zero gradient for the image. */
  gradientSeen: boolean[];
  /** A NaN or infinity appeared; the image was frozen from then on. */
  diverged: boolean[];
}

/**
 * Whether data[start..end) holds only finite numbers (a diverged image holds NaN or infinity). It runs
 * on every gradient of every step, so without a branch a value: x * 0 is ±0 for a finite x and NaN for
 * NaN and the infinities, and one NaN makes the sums NaN (four of them, so the additions overlap).
 */
export function allFinite(data: Float32Array, start: number, end: number): boolean {
  let [s0, s1, s2, s3] = [0, 0, 0, 0];
  let i = start;
  for (; i + 3 < end; i += 4) {
    s0 += data[i] * 0;
    s1 += data[i + 1] * 0;
    s2 += data[i + 2] * 0;
    s3 += data[i + 3] * 0;
  }
  for (; i < end; i++) s0 += data[i] * 0;
  return s0 + s1 + s2 + s3 === 0;
}

/** Whether data[start..end) holds a non-zero value (a gradient that reached the image). */
export function anyNonZero(data: Float32Array, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if (data[i] !== 0) return true;
  return false;
}

/** Start images, NCHW: the seed's noise image for every filter (not tied to a filter's index). */
export function startImages(filters: readonly number[], params: MethodParams, seed: number): Float32Array {
  const noise = noiseImage(seed, params.startSize, params.noise);
  const out = new Float32Array(filters.length * noise.length);
  filters.forEach((_, n) => out.set(noise, n * noise.length));
  return out;
}

export async function runAscent(engine: Engine, input: AscentInput): Promise<AscentResult> {
  const { objective, filters, params, space, signal } = input;
  const n = filters.length;
  const sizes = scaleSizes(params);
  const totalSteps = sizes.length * params.stepsPerScale;
  const start = new Float64Array(n).fill(Number.NaN);
  const best = new Float64Array(n).fill(-Infinity);
  const gradientSeen = new Array<boolean>(n).fill(false);
  const diverged = new Array<boolean>(n).fill(false);
  let images = input.start ?? startImages(filters, params, input.seed);
  if (images.length !== n * 3 * sizes[0] * sizes[0]) {
    throw new RangeError(`start images: expected ${n} x 3 x ${sizes[0]} x ${sizes[0]} values, received ${images.length}`);
  }
  let done = 0;
  const adamOptions: AdamOptions = { learningRate: input.learningRate, weightDecay: params.weightDecay };
  for (let s = 0; s < sizes.length; s++) {
    const size = sizes[s];
    const shape = { n, height: size, width: size };
    const perImage = 3 * size * size;
    const x = imagesToParams(images, shape, space);
    // Each step's objective: its first finite value is the start, the highest the best.
    const record = (i: number, value: number) => {
      if (Number.isNaN(start[i])) start[i] = value;
      if (value > best[i]) best[i] = value;
    };
    const onStep = () => input.onStep?.(++done, totalSteps);
    let scaled: Float32Array;
    if (engine.startAscent) {
      scaled = await deviceScale(engine.startAscent.bind(engine), { x, shape, objective, space, adamOptions, steps: params.stepsPerScale, signal, diverged, gradientSeen, record, onStep });
    } else {
      const adam = createAdam(x.length, adamOptions);
      // gradientToParams(gradient, shape, space, -1), applied by Adam as it reads the gradient.
      const descentScale = { plane: size * size, factors: space.std.map((s) => -1 * s) };
      for (let step = 0; step < params.stepsPerScale; step++) {
        signal?.throwIfAborted();
        const batch = { data: paramsToImages(x, shape, space), ...shape };
        const result = await evaluateObjective(engine, objective, batch);
        for (let i = 0; i < n; i++) {
          if (diverged[i]) continue;
          const [from, to] = [i * perImage, (i + 1) * perImage];
          const value = result.objective[i];
          // Only the engine's numbers can bring a NaN or infinity in: Adam's update of finite values stays finite.
          if (!Number.isFinite(value) || !allFinite(result.gradient, from, to)) {
            // Freeze the image at a finite value so it cannot disturb anything else.
            diverged[i] = true;
            x.fill(0, from, to);
            continue;
          }
          record(i, value);
          if (!gradientSeen[i] && anyNonZero(result.gradient, from, to)) gradientSeen[i] = true;
        }
        // Minimise -objective: the chain rule with sign -1 gives d(-objective) / dx.
        adam.step(x, result.gradient, (i) => diverged[i], perImage, descentScale);
        onStep();
      }
      scaled = x;
    }
    images = paramsToImages(scaled, shape, space);
    if (s < sizes.length - 1) images = betweenScales(images, n, size, sizes[s + 1], params);
  }
  // Belt and braces: whatever the cause, a non-finite final image is never returned as a result.
  const last = 3 * sizes.at(-1)! ** 2;
  for (let i = 0; i < n; i++) if (!allFinite(images, i * last, (i + 1) * last)) diverged[i] = true;
  return { images, size: sizes.at(-1)!, start, best, gradientSeen, diverged };
}

interface DeviceScale {
  x: Float32Array;
  shape: { n: number; height: number; width: number };
  objective: Objective;
  space: PixelSpace;
  adamOptions: AdamOptions;
  steps: number;
  signal?: AbortSignal;
  /** Updated in place, as the host path does. */
  diverged: boolean[];
  gradientSeen: boolean[];
  record(image: number, value: number): void;
  onStep(): void;
}

/**
 * One scale with the images and Adam's moments on the engine's device (Engine.startAscent): the same
 * update as the host path (the device freezes a diverged image as the host does, and says so by a
 * non-finite objective), with only the objective coming back each step. Returns x after the scale.
 */
async function deviceScale(startAscent: NonNullable<Engine['startAscent']>, scale: DeviceScale): Promise<Float32Array> {
  const { x, shape, objective, space, adamOptions, diverged, gradientSeen } = scale;
  if (objective.weights.length !== shape.n * objective.channels) {
    throw new RangeError(`objective has ${objective.weights.length / objective.channels} rows for a batch of ${shape.n}`);
  }
  const ascent = await startAscent({
    params: x,
    ...shape,
    layer: objective.layer,
    channelWeights: objective.weights,
    space,
    frozen: diverged,
    adam: { weightDecay: adamOptions.weightDecay, beta1: adamOptions.beta1 ?? 0.9, beta2: adamOptions.beta2 ?? 0.999, eps: adamOptions.eps ?? 1e-8 },
  });
  try {
    for (let step = 1; step <= scale.steps; step++) {
      scale.signal?.throwIfAborted();
      const { stepSize, sqrtCorrection2 } = adamScalars(step, adamOptions);
      const values = await ascent.step(stepSize, sqrtCorrection2);
      for (let i = 0; i < shape.n; i++) {
        if (diverged[i]) continue;
        if (Number.isFinite(values[i])) scale.record(i, values[i]);
        else diverged[i] = true;
      }
      scale.onStep();
    }
    const result = await ascent.finish();
    result.gradientSeen.forEach((seen, i) => (gradientSeen[i] ||= seen));
    return result.params;
  } finally {
    await ascent.dispose();
  }
}

/** The regularisers between scales: (clip), bicubic upscale, box blur, (clip again: bicubic overshoots). */
function betweenScales(images: Float32Array, n: number, from: number, to: number, params: MethodParams): Float32Array {
  let data = params.clipBetweenScales ? clip01(images) : images;
  data = resizeBicubic({ data, planes: 3 * n, height: from, width: from }, to, to).data;
  if (params.blurSize > 1) data = boxBlur({ data, planes: 3 * n, height: to, width: to }, params.blurSize).data;
  return params.clipBetweenScales ? clip01(data) : data;
}
