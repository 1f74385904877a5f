/**
 * The lucid method's objectives, each a value with a description that evaluates to the objective
 * per image and d objective / d image: the channel's spatial mean (the article's objective, through
 * Engine.objectiveGradient), its centre unit (Lucent's objectives.neuron, through Engine.backward
 * with a one-hot layer gradient), and the diversity penalty (Lucent's objectives.diversity: cosine
 * similarity of the Gram matrices of a lower layer between the images of a group, computed here and
 * sent back through Engine.backward).
 */
import type { Engine, FeatureMaps, ImageBatch } from '../../engine/engine.js';
import { channelObjective } from '../objective.js';

export interface ObjectiveValue {
  /** Per image (higher is better). */
  objective: Float32Array;
  /** d objective / d image, like the batch. */
  gradient: Float32Array;
}

export interface LucidObjective {
  description: string;
  evaluate(engine: Engine, batch: ImageBatch): Promise<ObjectiveValue>;
}

/** Image n maximises the spatial mean of channel filters[n]. */
export function channelMean(layer: string, channels: number, filters: readonly number[]): LucidObjective {
  const { weights, description } = channelObjective(layer, channels, filters);
  return { description, evaluate: (engine, batch) => engine.objectiveGradient(batch, layer, weights) };
}

/** Index of the centre unit of a plane: (floor(H / 2), floor(W / 2)) as Lucent's neuron(). */
export function centreIndex(height: number, width: number): number {
  return Math.floor(height / 2) * width + Math.floor(width / 2);
}

/**
 * Image n maximises the centre unit of channel filters[n] (a vector layer's value itself). The layer's
 * shape at the batch's size is learnt from one forward pass, then each step is one backward call.
 */
export function centreNeuron(layer: string, channels: number, filters: readonly number[]): LucidObjective {
  channelObjective(layer, channels, filters); // the same checks of the filter indices
  const shapes = new Map<string, { height: number; width: number }>();
  return {
    description: `centre unit of one channel of ${layer} per image (filters ${filters.join(', ')})`,
    async evaluate(engine, batch) {
      const key = `${batch.height}x${batch.width}`;
      let shape = shapes.get(key);
      if (!shape) {
        const maps = (await engine.forward({ ...batch, n: 1, data: batch.data.subarray(0, 3 * batch.height * batch.width) }, [layer])).get(layer)!;
        shape = { height: maps.height, width: maps.width };
        shapes.set(key, shape);
      }
      const plane = shape.height * shape.width;
      const centre = centreIndex(shape.height, shape.width);
      const dLayer = new Float32Array(batch.n * channels * plane);
      filters.forEach((filter, n) => (dLayer[(n * channels + filter) * plane + centre] = 1));
      const { activation, gradient } = await engine.backward(batch, layer, dLayer);
      const objective = new Float32Array(batch.n);
      filters.forEach((filter, n) => (objective[n] = activation.data[(n * channels + filter) * plane + centre]));
      return { objective, gradient };
    },
  };
}

/**
 * Normalised Gram matrix of one image's maps (C x C, Frobenius norm 1) and the norm it had:
 * G = F F^T with F the C x (H W) activations.
 */
export function gram(maps: FeatureMaps, image: number): { gram: Float64Array; norm: number } {
  const { channels: c, height, width } = maps;
  const plane = height * width;
  const base = image * c * plane;
  const g = new Float64Array(c * c);
  for (let i = 0; i < c; i++) {
    for (let j = i; j < c; j++) {
      let sum = 0;
      const [a, b] = [base + i * plane, base + j * plane];
      for (let k = 0; k < plane; k++) sum += maps.data[a + k] * maps.data[b + k];
      g[i * c + j] = sum;
      g[j * c + i] = sum;
    }
  }
  let norm = 0;
  for (const v of g) norm += v * v;
  norm = Math.sqrt(norm);
  // F.normalize's eps: a dead image (all zero maps) has no direction and no gradient.
  const safe = Math.max(norm, 1e-12);
  for (let i = 0; i < g.length; i++) g[i] /= safe;
  return { gram: g, norm: safe };
}

/**
 * Lucent's diversity penalty for groups of images (each group: the images of one filter):
 * per group, (1 / B) sum over i != j of <G_i, G_j> with G the normalised Gram matrices, B the group's
 * size. Returns the penalty per image (its share: (1 / B) sum over j != i) and d total penalty / d maps.
 */
export function diversityPenalty(maps: FeatureMaps, groupSize: number): { penalty: Float64Array; gradient: Float32Array } {
  const { n, channels: c, height, width } = maps;
  if (n % groupSize !== 0) throw new RangeError(`diversity: ${n} images do not make groups of ${groupSize}`);
  const plane = height * width;
  const grams = Array.from({ length: n }, (_, i) => gram(maps, i));
  const penalty = new Float64Array(n);
  const gradient = new Float32Array(maps.data.length);
  const dot = (a: Float64Array, b: Float64Array) => a.reduce((sum, v, k) => sum + v * b[k], 0);
  for (let i = 0; i < n; i++) {
    const group = Math.floor(i / groupSize) * groupSize;
    // d penalty / d Ghat_i: every pair (i, j) appears twice in the sum (as i, j and j, i).
    const a = new Float64Array(c * c);
    for (let j = group; j < group + groupSize; j++) {
      if (j === i) continue;
      penalty[i] += dot(grams[i].gram, grams[j].gram) / groupSize;
      for (let k = 0; k < a.length; k++) a[k] += (2 / groupSize) * grams[j].gram[k];
    }
    // Through the normalisation: d / d G = (A - Ghat <Ghat, A>) / |G|.
    const along = dot(grams[i].gram, a);
    const dG = a.map((v, k) => (v - grams[i].gram[k] * along) / grams[i].norm);
    // Through G = F F^T: d / d F = (dG + dG^T) F; dG is symmetric, so 2 dG F.
    const base = i * c * plane;
    for (let row = 0; row < c; row++) {
      for (let col = 0; col < c; col++) {
        const w = 2 * dG[row * c + col];
        if (w === 0) continue;
        const [dst, src] = [base + row * plane, base + col * plane];
        for (let k = 0; k < plane; k++) gradient[dst + k] += w * maps.data[src + k];
      }
    }
  }
  return { penalty, gradient };
}

/** The objective minus `weight` times the diversity penalty of `layer`, for groups of `groupSize` images. */
export function withDiversity(main: LucidObjective, layer: string, weight: number, groupSize: number): LucidObjective {
  return {
    description: `${main.description}, minus ${weight} x the diversity penalty on ${layer} (groups of ${groupSize})`,
    async evaluate(engine, batch) {
      const value = await main.evaluate(engine, batch);
      const maps = (await engine.forward(batch, [layer])).get(layer)!;
      const { gradient: dMaps } = diversityPenalty(maps, groupSize);
      for (let i = 0; i < dMaps.length; i++) dMaps[i] *= -weight;
      const { gradient } = await engine.backward(batch, layer, dMaps);
      const total = new Float32Array(value.gradient.length);
      for (let i = 0; i < total.length; i++) total[i] = value.gradient[i] + gradient[i];
      // The objective reported stays the filter's own (best, dead and the atlas's activation read it).
      return { objective: value.objective, gradient: total };
    },
  };
}
