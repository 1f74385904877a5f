/**
 * Objectives: a value with a layer, per-image channel weights and a description, evaluated
 * through Engine.objectiveGradient. The optimiser minimises the loss = -objective (the loop flips
 * the gradient's sign in the chain rule, saving a pass over the data).
 */
import { userError } from '../errors.js';
import type { Engine, ImageBatch } from '../engine/engine.js';

export interface Objective {
  layer: string;
  /** Channel count of the layer. */
  channels: number;
  /** images x channels, row-major: row n weights the channels of image n. */
  weights: Float32Array;
  /** One sentence, e.g. for atlas.json. */
  description: string;
}

export function checkFilters(layer: string, channels: number, filters: readonly number[]): void {
  const bad = filters.find((f) => !Number.isInteger(f) || f < 0 || f >= channels);
  if (bad !== undefined) {
    throw userError({
      where: `filter ${bad} of layer ${JSON.stringify(layer)}`,
      expected: `a filter index from 0 to ${channels - 1} (the layer has ${channels} channels)`,
      received: String(bad),
    });
  }
}

/** Image n maximises the mean over space of channel filters[n] (one-hot rows). */
export function channelObjective(layer: string, channels: number, filters: readonly number[]): Objective {
  checkFilters(layer, channels, filters);
  const weights = new Float32Array(filters.length * channels);
  filters.forEach((filter, n) => (weights[n * channels + filter] = 1));
  return {
    layer,
    channels,
    weights,
    description: `mean activation of one channel of ${layer} per image (filters ${filters.join(', ')})`,
  };
}

export interface ObjectiveValues {
  /** The objective per image (higher is better). */
  objective: Float32Array;
  /** d objective / d rgb, same layout as the batch. The loss minimised is -objective. */
  gradient: Float32Array;
}

/** Evaluates the objective and its gradient on a batch of RGB images. */
export async function evaluateObjective(engine: Engine, objective: Objective, batch: ImageBatch): Promise<ObjectiveValues> {
  if (objective.weights.length !== batch.n * objective.channels) {
    throw new RangeError(`objective has ${objective.weights.length / objective.channels} rows for a batch of ${batch.n}`);
  }
  return engine.objectiveGradient(batch, objective.layer, objective.weights);
}

/** Objective per image from a forward pass: weighted channel means of the layer's output. */
export async function objectiveValues(engine: Engine, objective: Objective, batch: ImageBatch): Promise<Float64Array> {
  const maps = (await engine.forward(batch, [objective.layer])).get(objective.layer);
  if (!maps) throw new Error(`engine returned no output for layer ${objective.layer}`);
  const plane = maps.height * maps.width;
  const values = new Float64Array(batch.n);
  for (let n = 0; n < batch.n; n++) {
    let total = 0;
    for (let c = 0; c < maps.channels; c++) {
      const w = objective.weights[n * objective.channels + c];
      if (w === 0) continue;
      let sum = 0;
      const base = (n * maps.channels + c) * plane;
      for (let i = 0; i < plane; i++) sum += maps.data[base + i];
      total += (w * sum) / plane;
    }
    values[n] = total;
  }
  return values;
}
