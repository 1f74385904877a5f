/**
 * The two real TensorFlow.js models, loaded through the product path (loadModel -> ensureAsset,
 * FILTER_ATLAS_MIRROR). Counts are Keras' own (model.summary()), see pipeline/model/params.ts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { describeLayers } from '../../pipeline/model/describe.js';
import type { CnnModel, GraphNode, Op } from '../../pipeline/model/graph.js';
import { findNode, inferShapes } from '../../pipeline/model/layers.js';
import { graphAtSize } from '../../pipeline/model/sized.js';
import { loadModel } from '../../pipeline/model/load.js';
import { countParameters } from '../../pipeline/model/params.js';

const kinds = (model: CnnModel) => model.graph.nodes.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n.op.kind]: (acc[n.op.kind] ?? 0) + 1 }), {});
function opOf<K extends Op['kind']>(node: GraphNode, kind: K): Extract<Op, { kind: K }> {
  expect(node.op.kind).toBe(kind);
  return node.op as Extract<Op, { kind: K }>;
}

/** Reads one weight straight from the shards (the manifest order), independent of the loader. */
async function rawWeight(folder: string, name: string): Promise<{ shape: number[]; data: Float32Array }> {
  const manifest = JSON.parse(await readFile(join(folder, 'model.json'), 'utf8')).weightsManifest as Array<{ paths: string[]; weights: Array<{ name: string; shape: number[] }> }>;
  for (const group of manifest) {
    const bytes = Buffer.concat(await Promise.all(group.paths.map((p) => readFile(join(folder, p)))));
    let offset = 0;
    for (const w of group.weights) {
      const count = w.shape.reduce((a, b) => a * b, 1);
      if (w.name === name) return { shape: w.shape, data: new Float32Array(bytes.buffer.slice(bytes.byteOffset + offset, bytes.byteOffset + offset + 4 * count)) };
      offset += 4 * count;
    }
  }
  throw new Error(`no weight ${name}`);
}

describe('darknet-tiny', () => {
  let model: CnnModel;
  let folder: string;
  beforeAll(async () => {
    folder = await ensureAsset('darknet-tiny');
    model = await loadModel('darknet-tiny');
  });

  it('has the reference layers, parameter count and output', () => {
    expect(model.graph.nodes).toHaveLength(51);
    expect(kinds(model)).toEqual({ conv: 16, batchNorm: 15, leakyRelu: 15, maxPool: 4, globalAvgPool: 1 });
    expect(countParameters(model.graph)).toBe(1_046_488);
    expect(model.graph.output).toBe('global_average_pooling2d_1');
    const shapes = inferShapes(model.graph, [224, 224]);
    expect(shapes.get('conv2d_16')).toMatchObject({ channels: 1000, height: 14, width: 14 });
    expect(shapes.get('global_average_pooling2d_1')).toMatchObject({ channels: 1000, height: 1, width: 1 });
    expect(shapes.get('leaky_re_lu_12')?.channels).toBe(512);
  });

  it('converts HWIO kernels to OIHW and keeps Keras BN epsilon, LeakyReLU alpha and same-pooling', async () => {
    const conv = opOf(findNode(model.graph, 'conv2d_2'), 'conv');
    expect(conv.weight.shape).toEqual([32, 16, 3, 3]);
    expect(conv.pads).toEqual([1, 1, 1, 1]);
    expect(conv.bias).toBeUndefined();
    const raw = await rawWeight(folder, 'conv2d_2/kernel'); // [3, 3, 16, 32]
    for (const [o, i, y, x] of [[0, 0, 0, 0], [31, 15, 2, 2], [7, 3, 1, 2], [20, 9, 2, 0]]) {
      expect(conv.weight.data[((o * 16 + i) * 3 + y) * 3 + x]).toBe(raw.data[((y * 3 + x) * 16 + i) * 32 + o]);
    }
    expect(opOf(findNode(model.graph, 'conv2d_16'), 'conv').bias).toHaveLength(1000);
    expect(opOf(findNode(model.graph, 'batch_normalization_1'), 'batchNorm').epsilon).toBe(0.001);
    expect(opOf(findNode(model.graph, 'leaky_re_lu_1'), 'leakyRelu').alpha).toBeCloseTo(0.1, 6);
    const pool = opOf(findNode(model.graph, 'max_pooling2d_1'), 'maxPool');
    expect(pool).toMatchObject({ kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil: true });
    // Keras 'same' 2x2/2 pooling at an odd size rounds up (ceil mode), as docs/design.md section 4 notes for 67 px.
    expect(inferShapes(model.graph, [67, 67]).get('max_pooling2d_1')).toMatchObject({ height: 34, width: 34 });
  });

  it('carries darknet labels, wnids and [0, 1] input preprocessing', () => {
    expect(model.labels).toHaveLength(1000);
    expect(model.labelWnids).toHaveLength(1000);
    expect([model.labels?.[0], model.labelWnids?.[0]]).toEqual(['kit fox', 'n02119789']);
    expect(model.preprocessing).toMatchObject({ inputSize: [224, 224], mean: [0, 0, 0], std: [1, 1, 1] });
    expect(model.source.format).toBe('tfjs-layers');
    expect(model.weightsDigest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('lists layers with receptive fields up to global pooling', () => {
    const rows = describeLayers(model);
    const last = rows.find((r) => r.name === 'conv2d_16')!;
    expect(last).toMatchObject({ type: 'conv', channels: 1000, height: 14, width: 14 });
    expect(last.receptiveField?.jump).toBe(16);
    expect(rows.find((r) => r.name === 'conv2d_1')?.receptiveField).toEqual({ size: 3, jump: 1 });
    expect(rows.at(-1)?.receptiveField).toBeUndefined();
  });

  it('loads the same model from its folder path, with the same digest', async () => {
    const again = await loadModel(folder);
    expect(again.weightsDigest).toBe(model.weightsDigest);
    expect(again.graph.nodes.map((n) => n.name)).toEqual(model.graph.nodes.map((n) => n.name));
  });
});

describe('mobilenet-v1-0.25', () => {
  let model: CnnModel;
  beforeAll(async () => {
    model = await loadModel('mobilenet-v1-0.25');
  });

  it('has the Keras layers, parameter count and 1000-class softmax output', () => {
    expect(model.graph.nodes).toHaveLength(87);
    expect(kinds(model)).toEqual({ conv: 28, batchNorm: 27, clip: 27, softmax: 1, globalAvgPool: 1, identity: 2, flatten: 1 });
    expect(countParameters(model.graph)).toBe(475_544);
    expect(model.graph.output).toBe('reshape_2');
    const shapes = inferShapes(model.graph, [224, 224]);
    expect(shapes.get('conv_pw_13_relu')).toMatchObject({ channels: 256, height: 7, width: 7 });
    expect(shapes.get('reshape_2')?.channels).toBe(1000);
  });

  it('turns depthwise convs into grouped convs and ReLU6 into clip, with TF same padding for stride 2', () => {
    const dw = opOf(findNode(model.graph, 'conv_dw_2'), 'conv');
    expect(dw.group).toBe(16);
    expect(dw.weight.shape).toEqual([16, 1, 3, 3]);
    expect(dw.strides).toEqual([2, 2]);
    expect(dw.pads).toEqual([0, 0, 1, 1]); // TF 'same' at even sizes: the extra row/column after
    expect(opOf(findNode(model.graph, 'conv1'), 'conv').pads).toEqual([0, 0, 1, 1]);
    expect(opOf(findNode(model.graph, 'conv_dw_1'), 'conv').pads).toEqual([1, 1, 1, 1]);
    expect(opOf(findNode(model.graph, 'conv1_relu'), 'clip')).toMatchObject({ min: 0, max: 6 });
  });

  it("recomputes TF 'same' padding at every image size (stride 2: the pads depend on it)", () => {
    // TF SAME: output ceil(size / stride); total pad (out - 1) * stride + kernel - size, the odd one after.
    const at = (size: number, layer: string) => opOf(findNode(graphAtSize(model, [size, size]).graph, layer), 'conv');
    expect(at(224, 'conv1').pads).toEqual([0, 0, 1, 1]);
    expect(at(225, 'conv1').pads).toEqual([1, 1, 1, 1]);
    expect(at(227, 'conv1').pads).toEqual([1, 1, 1, 1]);
    expect(at(226, 'conv1').pads).toEqual([0, 0, 1, 1]);
    expect(graphAtSize(model, [225, 225]).shapes.get('conv1')?.dims).toEqual([8, 113, 113]);
    // conv_dw_2 sees conv1's 113 x 113 output at 225 px: out 57, total pad 56 * 2 + 3 - 113 = 2.
    expect(at(225, 'conv_dw_2').pads).toEqual([1, 1, 1, 1]);
    // Stride 1 'same' is the same at every size.
    expect(at(225, 'conv_dw_1').pads).toEqual([1, 1, 1, 1]);
    expect(at(225, 'conv_dw_1').autoPad).toBeUndefined();
  });

  it('carries ImageNet labels in the standard order and [-1, 1] preprocessing', () => {
    expect(model.labels?.[0]).toBe('tench, Tinca tinca');
    expect(model.labelWnids?.[0]).toBe('n01440764');
    expect(model.labelWnids?.[999]).toBe('n15075141');
    expect(model.preprocessing).toMatchObject({ mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] });
  });
});
