/** Small hand-written TensorFlow.js layers models: every converted layer kind, layouts and errors. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Op } from '../../pipeline/model/graph.js';
import { findNode, inferShapes } from '../../pipeline/model/layers.js';
import { loadModel } from '../../pipeline/model/load.js';

type Layer = { class_name: string; name: string; config: Record<string, unknown>; inbound_nodes?: unknown[] };
const call = (...names: string[]) => [names.map((n) => [n, 0, 0, {}])];

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'filter-atlas-tfjs-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

/** Writes model.json + one shard whose values are 0, 1, 2, ... in manifest order (so layouts can be checked). */
async function writeModel(name: string, topology: unknown, weights: Array<{ name: string; shape: number[] }>): Promise<string> {
  const dir = join(folder, name);
  const total = weights.reduce((sum, w) => sum + w.shape.reduce((a, b) => a * b, 1), 0);
  await rm(dir, { recursive: true, force: true });
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  await writeFile(join(dir, 'group1-shard1of1'), Buffer.from(Float32Array.from({ length: total }, (_, i) => i).buffer));
  const manifest = [{ paths: ['group1-shard1of1'], weights: weights.map((w) => ({ ...w, dtype: 'float32' })) }];
  await writeFile(join(dir, 'model.json'), JSON.stringify({ modelTopology: topology, weightsManifest: manifest }));
  return join(dir, 'model.json');
}

const functional = (layers: Layer[], output: string) => ({
  keras_version: '2.1.6',
  model_config: { class_name: 'Model', config: { name: 'm', layers, input_layers: [['input_1', 0, 0]], output_layers: [[output, 0, 0]] } },
});

describe('TensorFlow.js layers loader', () => {
  it('converts a functional model with padding, stride-2 same conv, activations, add, concat, pooling, flatten and dense', async () => {
    const layers: Layer[] = [
      { class_name: 'InputLayer', name: 'input_1', config: { batch_input_shape: [null, 9, 9, 3] }, inbound_nodes: [] },
      { class_name: 'ZeroPadding2D', name: 'zp', config: { padding: [[1, 0], [0, 1]] }, inbound_nodes: call('input_1') },
      { class_name: 'Conv2D', name: 'c1', config: { filters: 4, kernel_size: [3, 3], strides: [2, 2], padding: 'same', activation: 'relu', use_bias: true }, inbound_nodes: call('zp') },
      { class_name: 'LeakyReLU', name: 'lr', config: { alpha: 0.2 }, inbound_nodes: call('c1') },
      { class_name: 'ReLU', name: 'r6', config: { max_value: 6 }, inbound_nodes: call('c1') },
      { class_name: 'Add', name: 'add', config: {}, inbound_nodes: call('lr', 'r6') },
      { class_name: 'Concatenate', name: 'cat', config: { axis: -1 }, inbound_nodes: call('add', 'c1') },
      { class_name: 'AveragePooling2D', name: 'ap', config: { pool_size: [2, 2], strides: [2, 2], padding: 'same' }, inbound_nodes: call('cat') },
      { class_name: 'Flatten', name: 'fl', config: {}, inbound_nodes: call('ap') },
      { class_name: 'Dropout', name: 'dr', config: { rate: 0.5 }, inbound_nodes: call('fl') },
      { class_name: 'Dense', name: 'd', config: { units: 5, activation: 'softmax', use_bias: true }, inbound_nodes: call('dr') },
    ];
    const path = await writeModel('functional', functional(layers, 'd'), [
      { name: 'c1/kernel', shape: [3, 3, 3, 4] },
      { name: 'c1/bias', shape: [4] },
      { name: 'd/kernel', shape: [72, 5] },
      { name: 'd/bias', shape: [5] },
    ]);
    const model = await loadModel(path);
    const g = model.graph;
    expect(g.nodes.map((n) => `${n.name}:${n.op.kind}`)).toEqual([
      'zp:pad', 'c1/linear:conv', 'c1:relu', 'lr:leakyRelu', 'r6:clip', 'add:add', 'cat:concat', 'ap:avgPool', 'fl:flatten', 'dr:identity', 'd/linear:dense', 'd:softmax',
    ]);
    expect(g.output).toBe('d');
    expect(model.preprocessing.inputSize).toEqual([9, 9]);
    const shapes = inferShapes(g, [9, 9]);
    expect(shapes.get('zp')).toMatchObject({ channels: 3, height: 10, width: 10 });
    expect(shapes.get('c1')).toMatchObject({ channels: 4, height: 5, width: 5 });
    expect(shapes.get('cat')?.channels).toBe(8);
    expect(shapes.get('ap')).toMatchObject({ channels: 8, height: 3, width: 3 });
    expect(shapes.get('d')?.channels).toBe(5);
    const op = (name: string) => findNode(g, name).op;
    expect(op('zp')).toEqual({ kind: 'pad', pads: [1, 0, 0, 1] });
    expect(op('c1/linear')).toMatchObject({ strides: [2, 2], pads: [0, 0, 1, 1], group: 1 });
    expect(op('r6')).toEqual({ kind: 'clip', min: 0, max: 6 });
    expect(op('lr')).toEqual({ kind: 'leakyRelu', alpha: 0.2 });
    expect(op('ap')).toMatchObject({ ceil: true, countIncludePad: false, pads: [0, 0, 0, 0] });
    expect(findNode(g, 'add').inputs).toEqual(['lr', 'r6']);
    expect(findNode(g, 'cat').inputs).toEqual(['add', 'c1']);
    // Conv: HWIO value at (y, x, i, o) = ((y*3 + x)*3 + i)*4 + o lands at OIHW (o, i, y, x).
    const conv = op('c1/linear') as Extract<Op, { kind: 'conv' }>;
    expect(conv.weight.shape).toEqual([4, 3, 3, 3]);
    expect(conv.weight.data[((2 * 3 + 1) * 3 + 0) * 3 + 2]).toBe(((0 * 3 + 2) * 3 + 1) * 4 + 2);
    expect(Array.from(conv.bias!)).toEqual([108, 109, 110, 111]);
    // Dense after a channels-last Flatten of 3x3x8: row (h, w, c) of the Keras kernel feeds graph feature c*9 + h*3 + w.
    const dense = op('d/linear') as Extract<Op, { kind: 'dense' }>;
    expect(dense.weight.shape).toEqual([5, 72]);
    const base = 112;
    for (const [o, c, h, w] of [[0, 0, 0, 0], [4, 7, 2, 2], [2, 5, 1, 0], [3, 1, 0, 2]]) {
      expect(dense.weight.data[o * 72 + c * 9 + h * 3 + w]).toBe(base + ((h * 3 + w) * 8 + c) * 5 + o);
    }
  });

  it('reads a Sequential model without InputLayer and Keras 3 style inbound nodes', async () => {
    const sequential = {
      class_name: 'Sequential',
      config: {
        name: 's',
        layers: [
          { class_name: 'DepthwiseConv2D', config: { name: 'dw', batch_input_shape: [null, 8, 8, 3], kernel_size: [3, 3], depth_multiplier: 2, padding: 'valid', use_bias: false } },
          { class_name: 'GlobalAveragePooling2D', config: { name: 'gap' } },
          { class_name: 'Dense', config: { name: 'out', units: 2, use_bias: false } },
        ],
      },
    };
    const path = await writeModel('sequential', sequential, [{ name: 'dw/depthwise_kernel', shape: [3, 3, 3, 2] }, { name: 'out/kernel', shape: [6, 2] }]);
    const model = await loadModel(path);
    // The graph's dense acts on the last axis: global pooling's (N, C, 1, 1) is flattened first.
    expect(model.graph.nodes.map((n) => n.name)).toEqual(['dw', 'gap', 'out/flatten', 'out']);
    expect(model.preprocessing).toMatchObject({ inputSize: [8, 8], mean: [0.485, 0.456, 0.406] });
    const dw = findNode(model.graph, 'dw').op as Extract<Op, { kind: 'conv' }>;
    expect(dw).toMatchObject({ group: 3, pads: [0, 0, 0, 0] });
    expect(dw.weight.shape).toEqual([6, 1, 3, 3]);
    // Depthwise [kh, kw, C, M] value at (y, x, c, m) = ((y*3 + x)*3 + c)*2 + m lands at output channel c*2 + m.
    expect(dw.weight.data[((2 * 2 + 1) * 3 + 1) * 3 + 0]).toBe(((1 * 3 + 0) * 3 + 2) * 2 + 1);

    const keras3 = {
      class_name: 'Functional',
      config: {
        layers: [
          { class_name: 'InputLayer', name: 'input_1', config: { batch_shape: [null, null, null, 3] }, inbound_nodes: [] },
          { class_name: 'Activation', name: 'act', config: { activation: 'relu6' }, inbound_nodes: [{ args: [{ class_name: '__keras_tensor__', config: { keras_history: ['input_1', 0, 0] } }], kwargs: {} }] },
        ],
        input_layers: ['input_1', 0, 0],
        output_layers: ['act', 0, 0],
      },
    };
    const k3 = await loadModel(await writeModel('keras3', keras3, []));
    expect(k3.graph.nodes).toEqual([{ name: 'act', op: { kind: 'clip', min: 0, max: 6 }, inputs: ['input'] }]);
    expect(k3.preprocessing.inputSize).toEqual([224, 224]);
  });

  it('names the layer class, layer and file of an unsupported layer', async () => {
    const topology = { class_name: 'Sequential', config: [{ class_name: 'Conv2DTranspose', config: { name: 'up1', batch_input_shape: [null, 8, 8, 3] } }] };
    const path = await writeModel('unsupported', topology, []);
    await expect(loadModel(path)).rejects.toThrow(`${path} layer up1 (Conv2DTranspose): expected a supported layer class (InputLayer, Conv2D,`);
    await expect(loadModel(path)).rejects.toThrow('received unsupported layer class Conv2DTranspose');
  });

  it('rejects weights that do not match the topology, and missing shards', async () => {
    const topology = { class_name: 'Sequential', config: [{ class_name: 'Conv2D', config: { name: 'c', batch_input_shape: [null, 8, 8, 3], filters: 2, kernel_size: [3, 3], use_bias: false } }] };
    const wrong = await writeModel('wrong-shape', topology, [{ name: 'c/kernel', shape: [3, 3, 3, 4] }]);
    await expect(loadModel(wrong)).rejects.toThrow(`${wrong} layer c (Conv2D): expected weight c/kernel of shape [3,3,3,2], received [3,3,3,4]`);
    const missing = await writeModel('missing-shard', topology, [{ name: 'c/kernel', shape: [3, 3, 3, 2] }]);
    await rm(join(folder, 'missing-shard', 'group1-shard1of1'));
    await expect(loadModel(missing)).rejects.toThrow(`${join(folder, 'missing-shard', 'group1-shard1of1')}: expected a weight shard listed in ${missing}, received ENOENT`);
  });
});
