/**
 * Gradient checks shared by engine tests. An engine's objective and gradient (float32)
 * are compared with the float64 reference interpreter: the objective directly, the
 * gradient through central finite differences of the reference objective along a random
 * direction and at a few single pixels. A float32-only check (finite difference of the
 * engine's own objective along its gradient) needs no reference at all.
 */
import type { Engine, ImageBatch } from '../../../pipeline/engine/engine.js';
import type { CnnModel, Pair } from '../../../pipeline/model/graph.js';
import { findLayer, findNode } from '../../../pipeline/model/layers.js';
import { randomImages, seededRandom, uniform } from './graphs.js';
import { referenceDirectional, referenceObjective } from './reference.js';

export interface GradientCheck {
  objective: { engine: number[]; reference: number[]; maxError: number };
  /** Per image: engine's gradient . direction vs the reference finite difference. */
  directional: { engine: number[]; reference: number[]; maxRelativeError: number };
  /** Single pixels: |engine - reference FD| / max |engine gradient| of that image. */
  pixels: { maxRelativeError: number; checked: number };
}

export function channelsOf(model: CnnModel, layer: string, size: Pair): number {
  return findLayer(model, layer, size).channels;
}

/** Seeded per-image channel weights: a mix of signs, so several channels matter at once. */
export function randomWeights(n: number, channels: number, seed = 11): Float32Array {
  return uniform(seededRandom(seed), n * channels, -1, 1);
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>, from: number, to: number): number => {
  let sum = 0;
  for (let i = from; i < to; i++) sum += a[i] * b[i];
  return sum;
};

export async function checkGradient(
  engine: Engine,
  model: CnnModel,
  batch: ImageBatch,
  layer: string,
  options: { pixels?: number; seed?: number; weights?: Float32Array } = {},
): Promise<GradientCheck> {
  const size: Pair = [batch.height, batch.width];
  const layerName = findNode(model.graph, layer).name;
  const weights = options.weights ?? randomWeights(batch.n, channelsOf(model, layer, size), options.seed);
  const { objective, gradient } = await engine.objectiveGradient(batch, layer, weights);
  const reference = referenceObjective(model, batch.data, batch.n, size, layerName, weights);
  const perImage = 3 * size[0] * size[1];

  const random = seededRandom(options.seed ?? 5);
  const direction = uniform(random, batch.data.length, -1, 1);
  const fd = referenceDirectional(model, batch.data, batch.n, size, layerName, weights, direction);
  const engineDirectional = Array.from({ length: batch.n }, (_, b) => dot(gradient, direction, b * perImage, (b + 1) * perImage));

  let pixelError = 0;
  const pixels = options.pixels ?? 4;
  for (let k = 0; k < pixels; k++) {
    const b = k % batch.n;
    const index = b * perImage + Math.floor(random() * perImage);
    const oneHot = new Float32Array(batch.data.length);
    oneHot[index] = 1;
    const derivative = referenceDirectional(model, batch.data, batch.n, size, layerName, weights, oneHot)[b];
    let scale = 0;
    for (let i = b * perImage; i < (b + 1) * perImage; i++) scale = Math.max(scale, Math.abs(gradient[i]));
    pixelError = Math.max(pixelError, Math.abs(gradient[index] - derivative) / Math.max(scale, 1e-12));
  }
  return {
    objective: { engine: [...objective], reference: [...reference], maxError: Math.max(...[...objective].map((o, b) => Math.abs(o - reference[b]) / Math.max(1, Math.abs(reference[b])))) },
    directional: {
      engine: engineDirectional,
      reference: [...fd],
      maxRelativeError: Math.max(...engineDirectional.map((e, b) => Math.abs(e - fd[b]) / Math.max(Math.abs(fd[b]), 1e-12))),
    },
    pixels: { maxRelativeError: pixelError, checked: pixels },
  };
}

/**
 * Float32 finite difference of the engine's own objective along its normalised gradient,
 * (f(x + h u) - f(x - h u)) / 2h, which should equal |gradient| per image.
 * Returns the largest relative error over the batch. h is small because a max-pool
 * near-tie or a ReLU near zero within h of the point adds an O(h) error; float32
 * rounding then costs about ulp(f) / (h |g|), ~1e-3 for f ~ 1, |g| ~ 1.
 */
export async function selfConsistency(engine: Engine, batch: ImageBatch, layer: string, weights: Float32Array, h = 1e-4): Promise<number> {
  const { gradient } = await engine.objectiveGradient(batch, layer, weights);
  const perImage = gradient.length / batch.n;
  const norms = Array.from({ length: batch.n }, (_, b) => Math.sqrt(dot(gradient, gradient, b * perImage, (b + 1) * perImage)));
  const shifted = (sign: number): ImageBatch => ({
    ...batch,
    data: batch.data.map((v, i) => v + (sign * h * gradient[i]) / norms[Math.floor(i / perImage)]),
  });
  const up = (await engine.objectiveGradient(shifted(1), layer, weights)).objective;
  const down = (await engine.objectiveGradient(shifted(-1), layer, weights)).objective;
  return Math.max(...norms.map((norm, b) => Math.abs((up[b] - down[b]) / (2 * h) - norm) / norm));
}

/**
 * The Engine contract every engine must keep: each image of a batch gets exactly the objective and
 * gradient it gets alone (no cross-talk between images, whatever the batch size).
 */
export async function batchIndependence(engine: Engine, model: CnnModel, layer: string, size: Pair): Promise<{ objective: number; gradient: number }> {
  const batch = randomImages(3, size, 21);
  const channels = channelsOf(model, layer, size);
  const weights = randomWeights(3, channels);
  const together = await engine.objectiveGradient(batch, layer, weights);
  const perImage = 3 * size[0] * size[1];
  let objective = 0;
  let gradient = 0;
  for (let b = 0; b < 3; b++) {
    const alone = await engine.objectiveGradient(
      { data: batch.data.slice(b * perImage, (b + 1) * perImage), n: 1, height: size[0], width: size[1] },
      layer,
      weights.slice(b * channels, (b + 1) * channels),
    );
    objective = Math.max(objective, Math.abs(alone.objective[0] - together.objective[b]));
    for (let i = 0; i < perImage; i++) gradient = Math.max(gradient, Math.abs(alone.gradient[i] - together.gradient[b * perImage + i]));
  }
  return { objective, gradient };
}
