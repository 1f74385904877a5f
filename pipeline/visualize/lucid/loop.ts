/**
 * The lucid loop: wires the parts (Fourier parameterisation, colour decorrelation + sigmoid,
 * robustness transforms, objective, Adam) for a batch of images and only wires. Per step:
 * spectrum -> planes -> RGB -> transformed copy -> engine (objective and d objective / d copy) ->
 * adjoints back to the spectrum -> one Adam step on the loss -objective.
 */
import type { Engine } from '../../engine/engine.js';
import { createRandom, deriveSeed } from '../../util/random.js';
import { allFinite, type AscentResult } from '../loop.js';
import { GRADIENT_FINITE, GRADIENT_NON_ZERO } from './image-range.js';
import { fourierBasis } from './fourier.js';
import type { LucidObjective } from './objective.js';
import { engineSize, type LucidParams } from '../../schema/lucid-params.js';
import { drawTransforms, robustnessTransforms } from './transforms.js';
import { createLucidThreads } from './threads.js';

export interface LucidInput {
  objective: LucidObjective;
  /** Images optimised together (filters x images per filter). */
  n: number;
  /** Which start spectrum each image gets (0 for a single image per filter; the copy index in a diversity group). */
  copies: readonly number[];
  params: LucidParams;
  learningRate: number;
  seed: number;
  signal?: AbortSignal;
  onStep?: (done: number, total: number) => void;
  /** Threads for the JavaScript of a step (threads.ts); default 'auto'. */
  threads?: number | 'auto';
  /**
   * Pictures after some of the steps (the steps curve, bench/steps-curve.ts): `take` gets the batch's
   * pictures (n x 3 x size x size) after each step listed. Nothing in a step depends on the total step
   * count, so they are the pictures of runs that long (test/visualize/lucid.test.ts checks it).
   */
  snapshots?: { steps: readonly number[]; take(step: number, images: Float32Array): void | Promise<void> };
  /** When given, each step adds its wall time and the engine's share of it here (the bench's row). */
  timing?: LucidTiming;
}

export interface LucidTiming {
  steps: number;
  stepSeconds: number;
  engineSeconds: number;
  /** Threads the JavaScript ran on. */
  threads: number;
}

/** A standard normal from two uniforms (Box-Muller), for the start spectrum. */
function normal(random: ReturnType<typeof createRandom>): number {
  const u = 1 - random.next(); // (0, 1]: log(0) never happens
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
}

/**
 * Start spectra: normal noise of std initStd, one per copy index and seed (never per filter or batch
 * position: as the article's start noise, a unit that moves to another index starts from the same image).
 */
export function startSpectra(perImage: number, copies: readonly number[], params: Pick<LucidParams, 'initStd'>, seed: number): Float32Array {
  const out = new Float32Array(copies.length * perImage);
  const made = new Map<number, Float32Array>();
  copies.forEach((copy, i) => {
    let spectrum = made.get(copy);
    if (!spectrum) {
      const random = createRandom(deriveSeed(seed, 2, copy));
      spectrum = new Float32Array(perImage).map(() => params.initStd * normal(random));
      made.set(copy, spectrum);
    }
    out.set(spectrum, i * perImage);
  });
  return out;
}

export async function runLucid(engine: Engine, input: LucidInput): Promise<AscentResult> {
  const { params, n, signal, timing } = input;
  const size = params.size;
  const plane = size * size;
  const perImage = fourierBasis(size, params.decayPower).perImage;
  const transforms = robustnessTransforms(params.transforms);
  // One stream of transform draws per seed: every image of every batch sees the same sequence.
  const random = createRandom(deriveSeed(input.seed, 3));
  const seenSize = engineSize(params);
  const spectra = startSpectra(perImage, input.copies, params, input.seed);
  const threads = await createLucidThreads({ params, learningRate: input.learningRate, n, perImage, seenSize, start: spectra, threads: input.threads ?? 'auto' });
  try {
    const { rgb, seen, gradient, status } = threads.arrays;
    const start = new Float64Array(n).fill(Number.NaN);
    const best = new Float64Array(n).fill(-Infinity);
    const gradientSeen = new Array<boolean>(n).fill(false);
    const diverged = new Array<boolean>(n).fill(false);
    const picture = { height: size, width: size };
    // onnxruntime-node refuses tensors on a SharedArrayBuffer: the engine reads a plain copy.
    const engineInput = seen.buffer instanceof ArrayBuffer ? seen : new Float32Array(seen.length);
    for (let step = 0; step < params.steps; step++) {
      signal?.throwIfAborted();
      const began = performance.now();
      await threads.forward(drawTransforms(transforms, picture, random));
      if (engineInput !== seen) engineInput.set(seen);
      const engineBegan = performance.now();
      const result = await input.objective.evaluate(engine, { data: engineInput, n, height: seenSize, width: seenSize });
      const engineEnded = performance.now();
      // An image whose objective or gradient is not finite has diverged: it is frozen from then on (its
      // picture is the last finite one), and the ranges keep its NaNs away from everything else.
      const frozen = diverged.map((was, i) => was || !Number.isFinite(result.objective[i]));
      gradient.set(result.gradient);
      await threads.backward(frozen);
      for (let i = 0; i < n; i++) {
        if (diverged[i]) continue;
        if (frozen[i] || !(status[i] & GRADIENT_FINITE)) {
          diverged[i] = true;
          continue;
        }
        const value = result.objective[i];
        if (Number.isNaN(start[i])) start[i] = value;
        if (value > best[i]) best[i] = value;
        if (status[i] & GRADIENT_NON_ZERO) gradientSeen[i] = true;
      }
      if (timing) {
        timing.engineSeconds += (engineEnded - engineBegan) / 1000;
        timing.stepSeconds += (performance.now() - began) / 1000;
        timing.steps += 1;
        timing.threads = threads.threads;
      }
      if (input.snapshots?.steps.includes(step + 1)) {
        await threads.forward(null);
        await input.snapshots.take(step + 1, rgb.slice());
      }
      input.onStep?.(step + 1, params.steps);
    }
    await threads.forward(null);
    const images = rgb.slice();
    for (let i = 0; i < n; i++) if (!allFinite(images, i * 3 * plane, (i + 1) * 3 * plane)) diverged[i] = true;
    return { images, size, start, best, gradientSeen, diverged };
  } finally {
    await threads.close();
  }
}
