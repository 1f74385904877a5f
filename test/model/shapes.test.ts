/**
 * The graph's shape rules and the ONNX import's size handling: broadcasting checked at import (a
 * broadcast whose batch axes do not line up is refused by name), batch-first rules for layout ops,
 * reshape targets re-derived at other sizes, shape arithmetic folded per size, module paths.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INPUT, type GraphNode, type Op } from '../../pipeline/model/graph.js';
import { findNode } from '../../pipeline/model/layers.js';
import { loadModel } from '../../pipeline/model/load.js';
import { modulePaths } from '../../pipeline/model/onnx-scopes.js';
import { graphAtSize } from '../../pipeline/model/sized.js';
import { inferShapes, makeShape, nodeShape } from '../../pipeline/model/shapes.js';
import { floatTensor, int64Tensor, modelBytes, node } from './helpers/onnx.js';

const conv = (out: number, inChannels: number): Op => ({
  kind: 'conv',
  weight: { shape: [out, inChannels, 1, 1], data: new Float32Array(out * inChannels) },
  strides: [1, 1],
  pads: [0, 0, 0, 0],
  dilations: [1, 1],
  group: 1,
});

const shapeOf = (op: Op, inputs: number[][], batched: boolean[] = inputs.map(() => true)) =>
  nodeShape({ name: 'n', op, inputs: inputs.map((_, i) => `i${i}`) } as GraphNode, inputs.map((dims, i) => makeShape(dims, batched[i])));

describe('shape rules', () => {
  it('broadcast element-wise ops NumPy style, the batch axes lined up', () => {
    expect(shapeOf({ kind: 'mul' }, [[8, 5, 5], [8, 1, 1]]).dims).toEqual([8, 5, 5]);
    expect(shapeOf({ kind: 'add' }, [[8, 5, 5], [8, 1, 1], [1, 5, 1]]).dims).toEqual([8, 5, 5]);
    // A constant right-aligns: (8, 1, 1) scales channels, (5,) the width.
    expect(shapeOf({ kind: 'sub' }, [[8, 5, 5], [8, 1, 1]], [true, false]).dims).toEqual([8, 5, 5]);
    expect(shapeOf({ kind: 'div' }, [[8, 5, 5], [5]], [true, false]).dims).toEqual([8, 5, 5]);
  });

  it('refuse a broadcast that would pair the batch with another axis, or mismatched sizes', () => {
    expect(() => shapeOf({ kind: 'add' }, [[8], [8, 5, 5]])).toThrow('model node "n" (add): expected computed inputs of one rank (the batch axes must line up), received (N, 8) and (N, 8, 5, 5)');
    expect(() => shapeOf({ kind: 'mul' }, [[8, 5, 5], [4, 5, 5]])).toThrow('expected inputs that broadcast (each dimension equal, or 1), received (N, 8, 5, 5) and (N, 4, 5, 5)');
    expect(() => shapeOf({ kind: 'add' }, [[8, 5, 5], [2, 8, 1, 1]], [true, false])).toThrow('expected constants that broadcast over the batch (first dimension 1 at full rank), received (2, 8, 1, 1)');
  });

  it('keep the batch first in layout ops and reductions', () => {
    expect(shapeOf({ kind: 'transpose', perm: [0, 2, 3, 1] }, [[8, 5, 6]])).toMatchObject({ dims: [5, 6, 8], channelAxis: 2 });
    expect(() => shapeOf({ kind: 'transpose', perm: [1, 0, 2, 3] }, [[8, 5, 6]])).toThrow('expected a permutation that keeps the batch first (perm[0] = 0), received [1,0,2,3]');
    expect(() => shapeOf({ kind: 'reduceMean', axes: [0, 1], keepDims: true }, [[8, 5, 6]])).toThrow('expected axis in 1..3 of a rank-4 tensor (axis 0 is the batch), received 0');
    expect(shapeOf({ kind: 'reduceSum', axes: [2, 3], keepDims: false }, [[8, 5, 6]]).dims).toEqual([8]);
    expect(shapeOf({ kind: 'concat', axis: 3 }, [[8, 5, 6], [8, 5, 2]]).dims).toEqual([8, 5, 8]);
    expect(shapeOf({ kind: 'slice', axis: 2, start: 1, end: 4 }, [[8, 5, 6]]).dims).toEqual([8, 3, 6]);
  });

  it('resolve reshape targets against the input, copies and -1 included', () => {
    const shuffle: Op = { kind: 'reshape', shape: [{ input: 0 }, 2, 4, { input: 2 }, { input: 3 }] };
    expect(shapeOf(shuffle, [[8, 5, 6]]).dims).toEqual([2, 4, 5, 6]);
    expect(shapeOf({ kind: 'reshape', shape: [{ input: 0 }, -1] }, [[8, 5, 6]]).dims).toEqual([240]);
    expect(() => shapeOf({ kind: 'reshape', shape: [{ input: 0 }, 7, -1] }, [[8, 5, 6]])).toThrow('expected a target with 240 elements per image');
    expect(() => shapeOf({ kind: 'reshape', shape: [4, { input: 0 }, -1] }, [[8, 5, 6]])).toThrow('expected a reshape that keeps the batch first');
  });

  it('check a conv against its input channels and a dense against its features, naming the node', () => {
    const graph = { inputChannels: 3, output: 'b', nodes: [{ name: 'a', op: conv(4, 3), inputs: [INPUT] }, { name: 'b', op: conv(2, 5), inputs: ['a'] }] };
    expect(() => inferShapes(graph, [6, 6])).toThrow('model node "b" (conv) at image size 6x6: expected 5 input channels (weight [2,5,1,1], group 1), received 4');
  });
});

describe('ONNX import at other sizes', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fa-shapes-'));
  });
  afterAll(async () => {
    await rm(folder, { recursive: true, force: true });
  });

  /** conv (8 channels) -> Reshape [1, 2, 4, 5, 5] -> Transpose -> Reshape [1, -1, 5, 5] -> Flatten -> Gemm: a channel shuffle as torch exports it at 5x5. */
  function shuffleNet(): Uint8Array {
    return modelBytes({
      input: { name: 'x', dims: [1, 3, 5, 5] },
      output: 'logits',
      initializers: [
        floatTensor('W', [8, 3, 1, 1], Array.from({ length: 24 }, (_, i) => i / 24)),
        int64Tensor('split', [5], [1, 2, 4, 5, 5]),
        int64Tensor('merge', [4], [1, -1, 5, 5]),
        floatTensor('Wfc', [3, 200], new Float32Array(600)),
      ],
      nodes: [
        node('Conv', '/stem/Conv', ['x', 'W'], ['c'], { kernel_shape: [1, 1] }),
        node('Reshape', '/shuffle/Reshape', ['c', 'split'], ['r1']),
        node('Transpose', '/shuffle/Transpose', ['r1'], ['t'], { perm: [0, 2, 1, 3, 4] }),
        node('Reshape', '/shuffle/Reshape_1', ['t', 'merge'], ['r2']),
        node('Flatten', '/Flatten', ['r2'], ['f']),
        node('Gemm', '/fc/Gemm', ['f', 'Wfc'], ['logits'], { transB: 1 }),
      ],
    });
  }

  it('re-derives reshape targets baked in at the export size, and leaves out what cannot run elsewhere', async () => {
    const path = join(folder, 'shuffle.onnx');
    await writeFile(path, shuffleNet());
    const model = await loadModel(path);
    const at7 = graphAtSize(model, [7, 7]);
    expect(at7.shapes.get('/shuffle/Reshape')?.dims).toEqual([2, 4, 7, 7]);
    expect(at7.shapes.get('/shuffle/Reshape_1')?.dims).toEqual([8, 7, 7]);
    // The linear layer takes 200 features (8 x 5 x 5): at 7 px it cannot run, and says why.
    expect(() => findNode(at7.graph, 'fc')).toThrow('model node "/fc/Gemm" (dense) at image size 7x7: expected 200 features on the last axis, received (N, 392)');
    expect(findNode(model.graph, 'shuffle').name).toBe('/shuffle/Reshape_1');
    expect(findNode(model.graph, 'logits').name).toBe('/fc/Gemm');
  });

  it('evaluates Shape -> Gather -> Concat -> Reshape arithmetic at each size', async () => {
    const bytes = modelBytes({
      input: { name: 'x', dims: ['N', 3, 'H', 'W'] },
      output: 'y',
      initializers: [int64Tensor('two', [], [2]), int64Tensor('zero', [1], [0]), int64Tensor('axis0', [1], [0]), int64Tensor('c1', [1], [1]), int64Tensor('hw', [2], [2, 3]), int64Tensor('three', [1], [3])],
      nodes: [
        node('Relu', 'relu', ['x'], ['a']),
        node('Shape', 'shape', ['a'], ['s']),
        node('Gather', 'hw_dims', ['s', 'hw'], ['spatial']),
        node('Gather', 'batch', ['s', 'zero'], ['n']),
        node('Concat', 'target', ['n', 'three', 'spatial'], ['t'], { axis: 0 }),
        node('Reshape', 'same', ['a', 't'], ['y']),
      ],
    });
    const path = join(folder, 'dynamic.onnx');
    await writeFile(path, bytes);
    const model = await loadModel(path, { preprocessing: { inputSize: [4, 6] } });
    expect(graphAtSize(model, [4, 6]).shapes.get('same')?.dims).toEqual([3, 4, 6]);
    expect(graphAtSize(model, [9, 5]).shapes.get('same')?.dims).toEqual([3, 9, 5]);
  });

  it('reads torch module paths from node names', () => {
    expect(modulePaths('/layer4/layer4.1/conv2/Conv')).toEqual(['layer4', 'layer4.1', 'layer4.1.conv2']);
    expect(modulePaths('/features/features.8/features.8.2/Mul')).toEqual(['features', 'features.8', 'features.8.2']);
    expect(modulePaths('/Flatten')).toEqual([]);
    expect(modulePaths('conv1')).toEqual([]);
  });
});
