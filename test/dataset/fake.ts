/**
 * A fake Engine and a tiny model for dataset tests. Each test image is a solid colour whose red
 * byte is the image's id; the fake engine reads that byte back and returns the activations the
 * test defined for that id, so scans have known answers without a real network.
 */
import sharp from 'sharp';
import { join } from 'node:path';
import type { Engine, FeatureMaps, ImageBatch } from '../../pipeline/engine/engine.js';
import type { CnnModel, Graph } from '../../pipeline/model/graph.js';
import { findNode } from '../../pipeline/model/layers.js';

export const INPUT_SIZE = 32;

function conv(inChannels: number, outChannels: number): CnnModel['graph']['nodes'][number]['op'] {
  return {
    kind: 'conv',
    weight: { shape: [outChannels, inChannels, 3, 3], data: new Float32Array(outChannels * inChannels * 9) },
    strides: [1, 1],
    pads: [1, 1, 1, 1],
    dilations: [1, 1],
    group: 1,
  };
}

/** input 32x32 -> c1 (3x3, 4 ch, 32x32, field 3) -> pool 2x2/2 -> c2 (3x3, 3 ch, 16x16, field 8). */
export function fakeModel(resize: 'stretch' | 'center-crop' = 'stretch'): CnnModel {
  const graph: Graph = {
    inputChannels: 3,
    output: 'c2',
    nodes: [
      { name: 'c1', op: conv(3, 4), inputs: ['input'] },
      { name: 'pool', op: { kind: 'maxPool', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil: false }, inputs: ['c1'] },
      { name: 'c2', aliases: ['2'], op: conv(4, 3), inputs: ['pool'] },
    ],
  };
  return {
    name: 'fake',
    version: '1',
    source: { format: 'onnx', path: 'fake.onnx' },
    graph,
    preprocessing: { inputSize: [INPUT_SIZE, INPUT_SIZE], mean: [0, 0, 0], std: [1, 1, 1], resize },
    labels: ['zero', 'one', 'two'],
    weightsDigest: 'fake',
  };
}

export const LAYER_SHAPES: Record<string, { channels: number; size: number }> = { c1: { channels: 4, size: 32 }, c2: { channels: 3, size: 16 } };

/** Activation of (image id, layer name, aliases resolved): a C x H x W map. */
export type ActivationOf = (id: number, layer: string) => Float32Array;

export interface FakeEngine extends Engine {
  /** The layers and batch size of every forward call. */
  calls: Array<{ n: number; layers: string[] }>;
}

export function fakeEngine(activation: ActivationOf): FakeEngine {
  const calls: FakeEngine['calls'] = [];
  const graph = fakeModel().graph;
  return {
    info: { name: 'ort', device: 'fake', deviceKind: 'cpu' },
    calls,
    async forward(batch: ImageBatch, layers: readonly string[]) {
      calls.push({ n: batch.n, layers: [...layers] });
      const plane = batch.height * batch.width;
      const out = new Map<string, FeatureMaps>();
      // Like a real engine: outputs keyed by the requested name, which may be an alias.
      for (const requested of layers) {
        const layer = findNode(graph, requested).name;
        const { channels, size } = LAYER_SHAPES[layer];
        const data = new Float32Array(batch.n * channels * size * size);
        for (let n = 0; n < batch.n; n++) {
          const id = Math.round(batch.data[n * 3 * plane] * 255);
          data.set(activation(id, layer), n * channels * size * size);
        }
        out.set(requested, { data, n: batch.n, channels, height: size, width: size });
      }
      return out;
    },
    async objectiveGradient() {
      throw new Error('not used by the dataset scan');
    },
    async backward() {
      throw new Error('not used by the dataset scan');
    },
    async attribution() {
      throw new Error('not used by the dataset scan');
    },
    async rowAttribution() {
      throw new Error('not used by the dataset scan');
    },
    async dispose() {},
  };
}

/** Writes a solid PNG whose red byte is `id` (ids 1..250; 0 would be ambiguous with black). */
export async function writeIdImage(folder: string, name: string, id: number, width = 40, height = 30): Promise<string> {
  const path = join(folder, name);
  await sharp({ create: { width, height, channels: 3, background: { r: id, g: 128, b: 64 } } })
    .png()
    .toFile(path);
  return path;
}
