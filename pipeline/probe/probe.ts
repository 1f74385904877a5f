/**
 * The article's hypothesis test: one photo at the model's input size, the mean activation of every
 * channel of one layer, and the channels that respond most.
 */
import { userError } from '../errors.js';
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { findLayer } from '../model/layers.js';
import { loadImageForModel } from '../image/load.js';

export interface ProbeTop {
  filter: number;
  mean: number;
  /** The class name when the layer's channels are the model's classes. */
  label?: string;
}

export interface ProbeResult {
  means: number[];
  top: ProbeTop[];
}

export async function probeImage(engine: Engine, model: CnnModel, imagePath: string, layer: string, topK: number): Promise<ProbeResult> {
  if (!Number.isInteger(topK) || topK < 1) throw userError({ where: '--top', expected: 'a positive integer', received: String(topK) });
  const { node } = findLayer(model, layer);
  const image = await loadImageForModel(imagePath, model.preprocessing);
  const outputs = await engine.forward({ data: image.data, n: 1, height: image.height, width: image.width }, [node.name]);
  const maps = outputs.get(node.name);
  if (!maps) throw new Error(`engine.forward returned no output for layer ${layer}`);
  const means = channelMeans(maps.data, maps.channels, maps.height * maps.width);
  // Channels are the classes when their count matches the labels (darknet conv2d_16, a logits layer).
  const labels = model.labels && model.labels.length === maps.channels ? model.labels : undefined;
  const top = topChannels(means, topK).map((filter): ProbeTop => {
    const entry: ProbeTop = { filter, mean: means[filter] };
    if (labels) entry.label = labels[filter];
    return entry;
  });
  return { means, top };
}

/** Mean over space of each channel of the first image of an NCHW buffer. */
export function channelMeans(data: Float32Array, channels: number, plane: number): number[] {
  const means: number[] = [];
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let i = c * plane; i < (c + 1) * plane; i++) sum += data[i];
    means.push(sum / plane);
  }
  return means;
}

/** Indices of the k largest values, largest first; ties keep the lower index. */
export function topChannels(values: readonly number[], k: number): number[] {
  return values
    .map((value, index) => ({ value: Number.isNaN(value) ? -Infinity : value, index }))
    .sort((a, b) => b.value - a.value || a.index - b.index)
    .slice(0, k)
    .map((entry) => entry.index);
}
