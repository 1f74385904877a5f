/** ONNX import: a small CNN built with onnx-proto covering the supported op set, and the errors. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CnnModel, Op } from '../../pipeline/model/graph.js';
import { findNode, inferShapes } from '../../pipeline/model/layers.js';
import { graphAtSize } from '../../pipeline/model/sized.js';
import { loadModel } from '../../pipeline/model/load.js';
import { floatTensor, int64Tensor, modelBytes, node } from './helpers/onnx.js';

const range = (n: number, scale = 1) => Array.from({ length: n }, (_, i) => i * scale);
let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'filter-atlas-onnx-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

async function save(name: string, bytes: Uint8Array): Promise<string> {
  const path = join(folder, name);
  await writeFile(path, bytes);
  return path;
}

function smallCnn(): Uint8Array {
  return modelBytes({
    input: { name: 'x', dims: ['N', 3, 8, 8] },
    output: 'y',
    initializers: [
      floatTensor('W1', [4, 3, 3, 3], range(108), 'float'),
      floatTensor('B1', [4], [1, 2, 3, 4]),
      floatTensor('s', [4], [1, 1, 1, 1]),
      floatTensor('b', [4], [0, 0, 0, 0]),
      floatTensor('m', [4], [0.1, 0.2, 0.3, 0.4]),
      floatTensor('v', [4], [1, 2, 3, 4]),
      floatTensor('W2', [4, 1, 3, 3], range(36)),
      int64Tensor('pads', [8], [0, 0, 1, 1, 0, 0, 1, 1]),
      floatTensor('Wfc', [3, 8], range(24)),
      floatTensor('bfc', [3], [5, 6, 7]),
      floatTensor('Wm', [3, 2], [1, 2, 3, 4, 5, 6]),
      floatTensor('bm', [2], [0.5, -0.5]),
    ],
    nodes: [
      // PyTorch exports shared weights as Identity(initializer): no graph node, a constant.
      node('Identity', 'Identity_0', ['W1'], ['W1_shared']),
      node('Conv', 'conv1', ['x', 'W1_shared', 'B1'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1], strides: [1, 1] }),
      node('BatchNormalization', 'bn1', ['c1', 's', 'b', 'm', 'v'], ['b1'], { epsilon: { float: 0.001 } }),
      node('Relu', 'relu1', ['b1'], ['r1']),
      node('Conv', 'dw', ['r1', 'W2'], ['c2'], { group: 4, strides: [2, 2], auto_pad: 'SAME_UPPER' }),
      node('Constant', 'cmin', [], ['lo'], { value: { tensor: floatTensor('', [], [0]) } }),
      node('Constant', 'cmax', [], ['hi'], { value: { tensor: floatTensor('', [], [6]) } }),
      node('Clip', 'clip1', ['c2', 'lo', 'hi'], ['k1']),
      node('MaxPool', 'pool1', ['r1'], ['p1'], { kernel_shape: [2, 2], strides: [2, 2], ceil_mode: 1 }),
      node('Add', 'add1', ['p1', 'k1'], ['a1']),
      node('Pad', 'pad1', ['a1', 'pads'], ['pd']),
      node('AveragePool', 'avg1', ['pd'], ['av'], { kernel_shape: [3, 3], strides: [3, 3] }),
      node('Concat', 'cat1', ['av', 'av'], ['ct'], { axis: 1 }),
      node('LeakyRelu', 'lrelu', ['ct'], ['lr'], { alpha: { float: 0.2 } }),
      node('GlobalAveragePool', 'gap', ['lr'], ['g']),
      node('Flatten', 'flat', ['g'], ['f'], { axis: 1 }),
      node('Dropout', 'drop', ['f'], ['fd']),
      node('Gemm', 'fc', ['fd', 'Wfc', 'bfc'], ['y0'], { transB: 1, alpha: { float: 2 } }),
      node('MatMul', 'mm', ['y0', 'Wm'], ['mmo']),
      node('Add', 'mmb', ['mmo', 'bm'], ['y1']),
      node('Softmax', '', ['y1'], ['y'], { axis: 1 }),
    ],
  });
}

describe('ONNX import', () => {
  let model: CnnModel;
  beforeAll(async () => {
    model = await loadModel(await save('small.onnx', smallCnn()));
  });

  it('converts every supported op, in order, keeping ONNX node names', () => {
    expect(model.graph.nodes.map((n) => `${n.name}:${n.op.kind}`)).toEqual([
      'conv1:conv', 'bn1:batchNorm', 'relu1:relu', 'dw:conv', 'clip1:clip', 'pool1:maxPool', 'add1:add', 'pad1:pad', 'avg1:avgPool',
      'cat1:concat', 'lrelu:leakyRelu', 'gap:globalAvgPool', 'flat:flatten', 'fc:dense', 'mm:dense', 'y:softmax',
    ]);
    expect(model.graph.output).toBe('y');
    expect(findNode(model.graph, 'add1').inputs).toEqual(['pool1', 'clip1']);
    expect(model.name).toBe('small');
    expect(model.source.format).toBe('onnx');
  });

  it('reads attributes, Constant inputs, initializers and infers shapes', () => {
    const op = (name: string) => findNode(model.graph, name).op;
    expect(model.preprocessing).toMatchObject({ inputSize: [8, 8], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
    const conv1 = op('conv1') as Extract<Op, { kind: 'conv' }>;
    expect(conv1.weight.shape).toEqual([4, 3, 3, 3]);
    expect(conv1.weight.data[107]).toBe(107);
    expect(Array.from(conv1.bias!)).toEqual([1, 2, 3, 4]);
    expect(op('bn1')).toMatchObject({ epsilon: expect.closeTo(0.001, 6) });
    expect(op('dw')).toMatchObject({ group: 4, strides: [2, 2], pads: [0, 0, 1, 1], autoPad: 'same-upper' });
    expect(op('clip1')).toEqual({ kind: 'clip', min: 0, max: 6 });
    expect(op('pool1')).toMatchObject({ ceil: true, pads: [0, 0, 0, 0] });
    expect(op('pad1')).toEqual({ kind: 'pad', pads: [1, 1, 1, 1] });
    expect(op('avg1')).toMatchObject({ countIncludePad: false, kernel: [3, 3] });
    expect(op('lrelu')).toMatchObject({ alpha: expect.closeTo(0.2, 6) });
    const shapes = inferShapes(model.graph, [8, 8]);
    expect(shapes.get('dw')).toMatchObject({ dims: [4, 4, 4], channels: 4, height: 4, width: 4 });
    expect(shapes.get('pad1')).toMatchObject({ dims: [4, 6, 6] });
    expect(shapes.get('cat1')).toMatchObject({ dims: [8, 2, 2] });
    expect(shapes.get('y')?.dims).toEqual([2]);
  });

  it("recomputes auto_pad SAME_UPPER at other image sizes", () => {
    const dw = (size: number) => findNode(graphAtSize(model, [size, size]).graph, 'dw').op;
    expect(dw(8)).toMatchObject({ pads: [0, 0, 1, 1] });
    // 9 px: output ceil(9 / 2) = 5, total pad 4 * 2 + 3 - 9 = 2, split evenly.
    expect(dw(9)).toMatchObject({ pads: [1, 1, 1, 1] });
    expect(graphAtSize(model, [9, 9]).shapes.get('dw')?.dims).toEqual([4, 5, 5]);
  });

  it('turns Gemm (transB, alpha) and MatMul + Add into dense [out, in] layers', () => {
    const fc = findNode(model.graph, 'fc').op as Extract<Op, { kind: 'dense' }>;
    expect(fc.weight.shape).toEqual([3, 8]);
    expect(fc.weight.data[2 * 8 + 5]).toBe(2 * (2 * 8 + 5));
    expect(Array.from(fc.bias!)).toEqual([5, 6, 7]);
    const mm = findNode(model.graph, 'mm').op as Extract<Op, { kind: 'dense' }>;
    expect(mm.weight.shape).toEqual([2, 3]);
    expect(Array.from(mm.weight.data)).toEqual([1, 3, 5, 2, 4, 6]);
    expect(Array.from(mm.bias!)).toEqual([0.5, -0.5]);
  });

  it('takes preprocessing overrides', async () => {
    const custom = await loadModel(join(folder, 'small.onnx'), { preprocessing: { mean: [0, 0, 0], std: [1, 1, 1], inputSize: [16, 16] } });
    expect(custom.preprocessing).toEqual({ inputSize: [16, 16], mean: [0, 0, 0], std: [1, 1, 1], resize: 'center-crop' });
  });

  it('names the op type and node of an unsupported op', async () => {
    const bytes = modelBytes({
      input: { name: 'x', dims: [1, 3, 4, 4] },
      output: 's',
      initializers: [],
      nodes: [node('Relu', 'r', ['x'], ['a']), node('LRN', 'lrn1', ['a'], ['s'], { size: 3 })],
    });
    const path = await save('lrn.onnx', bytes);
    await expect(loadModel(path)).rejects.toThrow(`${path} node "lrn1" (LRN): expected a supported op (Conv, Gemm,`);
    await expect(loadModel(path)).rejects.toThrow('received unsupported op LRN');
  });

  it('requires an N x 3 x H x W input and constant weights', async () => {
    const gray = await save('gray.onnx', modelBytes({ input: { name: 'x', dims: [1, 1, 4, 4] }, output: 'a', initializers: [], nodes: [node('Relu', 'r', ['x'], ['a'])] }));
    await expect(loadModel(gray)).rejects.toThrow(`${gray} input x: expected an image input N x 3 x H x W (NCHW, RGB), received [1, 1, 4, 4]`);
    const computed = await save('computed.onnx', modelBytes({
      input: { name: 'x', dims: [1, 3, 4, 4] },
      output: 'c',
      initializers: [],
      nodes: [node('Relu', 'r', ['x'], ['w']), node('Conv', 'conv', ['x', 'w'], ['c'])],
    }));
    await expect(loadModel(computed)).rejects.toThrow(`${computed} node "conv" (Conv): expected the weight (input 1) known at import (an initializer, a Constant or shape arithmetic), received a tensor computed from the image`);
    const indices = await save('indices.onnx', modelBytes({
      input: { name: 'x', dims: [1, 3, 4, 4] },
      output: 'r',
      initializers: [],
      nodes: [node('MaxPool', 'mp', ['x'], ['p', 'i'], { kernel_shape: [2, 2], strides: [2, 2] }), node('Relu', 'relu', ['i'], ['r'])],
    }));
    await expect(loadModel(indices)).rejects.toThrow(`${indices} node "relu" (Relu): expected input 0 to be the first output of its node, received "i", a secondary output (e.g. MaxPool indices)`);
  });
});
