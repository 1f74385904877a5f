/**
 * `filter-atlas variant` on ONNX models: a small Conv -> BN -> Relu -> MaxPool -> Conv -> Relu network
 * built with onnx-proto, varied, read back through loadModel and run through the ORT engine.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pkg from 'onnx-proto';
import { readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../pipeline/engine/create.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { createVariant } from '../../pipeline/variants/create.js';
import { quantizeLeadingAxis } from '../../pipeline/variants/onnx.js';
import { floatTensor, modelBytes, node } from '../model/helpers/onnx.js';

const { onnx } = pkg;
const values = (n: number, seed: number) => Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898 + seed) * 0.5);

function network(): Uint8Array {
  return modelBytes({
    input: { name: 'x', dims: ['N', 3, 16, 16] },
    output: 'y',
    initializers: [
      floatTensor('W1', [6, 3, 3, 3], values(162, 1)),
      floatTensor('B1', [6], values(6, 2)),
      floatTensor('s', [6], [1, 0.9, 1.1, 1.2, 0.8, 1]),
      floatTensor('b', [6], values(6, 3)),
      floatTensor('m', [6], values(6, 4)),
      floatTensor('v', [6], [1, 2, 3, 4, 5, 6]),
      floatTensor('W2', [5, 6, 3, 3], values(270, 5)),
      floatTensor('W3', [4, 5, 1, 1], values(20, 6)),
    ],
    nodes: [
      node('Conv', '/layer1/conv1/Conv', ['x', 'W1', 'B1'], ['c1'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
      node('BatchNormalization', '/layer1/bn1/BatchNormalization', ['c1', 's', 'b', 'm', 'v'], ['b1']),
      node('Relu', '/layer1/relu/Relu', ['b1'], ['r1']),
      node('MaxPool', '/layer1/pool/MaxPool', ['r1'], ['p1'], { kernel_shape: [2, 2], strides: [2, 2] }),
      node('Conv', '/layer2/conv2/Conv', ['p1', 'W2'], ['c2'], { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }),
      node('Relu', '/layer2/relu/Relu', ['c2'], ['r2']),
      node('Conv', '/head/Conv', ['r2', 'W3'], ['c3'], { kernel_shape: [1, 1] }),
      node('Relu', '/head/relu/Relu', ['c3'], ['y']),
    ],
  });
}

describe('variant of an ONNX model', () => {
  let dir: string;
  let source: string;
  let base: CnnModel;
  const batch = { data: Float32Array.from(values(2 * 3 * 16 * 16, 7), (v) => v + 0.5), n: 2, height: 16, width: 16 };

  async function forward(model: CnnModel, layers: string[]) {
    const engine = await createEngine(model, { engine: 'ort' });
    try {
      return await engine.forward(batch, layers);
    } finally {
      await engine.dispose();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fa-onnx-variant-'));
    source = join(dir, 'net.onnx');
    await writeFile(source, network());
    base = await loadModel(source, { preprocessing: { inputSize: [16, 16] } });
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('permutes a conv through BN, Relu and MaxPool into the next conv: same function, units reordered', async () => {
    const result = await createVariant(source, { out: join(dir, 'p'), permute: ['/layer1/conv1/Conv'], perturb: [], seed: 1 }, { loadModel });
    expect(result.modelFile).toBe(join(dir, 'p', 'net.onnx'));
    const op = result.operations[0];
    expect(op).toMatchObject({ kind: 'permute', layer: '/layer1/conv1/Conv', batchNorms: ['/layer1/bn1/BatchNormalization'], next: '/layer2/conv2/Conv' });
    if (op.kind !== 'permute') throw new Error('unreachable');
    const variant = await loadModel(result.modelFile, { preprocessing: { inputSize: [16, 16] } });
    expect(variant.weightsDigest).not.toBe(base.weightsDigest);
    const layers = ['/layer1/relu/Relu', '/head/relu/Relu'];
    const [a, b] = [await forward(base, layers), await forward(variant, layers)];
    const ra = a.get(layers[0])!;
    const rb = b.get(layers[0])!;
    const plane = ra.height * ra.width;
    for (let n = 0; n < 2; n++) {
      for (let j = 0; j < 6; j++) {
        const fromB = rb.data.subarray((n * 6 + j) * plane, (n * 6 + j + 1) * plane);
        const fromA = ra.data.subarray((n * 6 + op.order[j]) * plane, (n * 6 + op.order[j] + 1) * plane);
        expect(Math.max(...fromB.map((v, i) => Math.abs(v - fromA[i])))).toBeLessThan(1e-5);
      }
    }
    const [ya, yb] = [a.get(layers[1])!.data, b.get(layers[1])!.data];
    expect(Math.max(...ya.map((v, i) => Math.abs(v - yb[i])))).toBeLessThan(1e-4);
    // What was done is recorded in the file.
    const saved = onnx.ModelProto.decode(await readFile(result.modelFile));
    const meta = JSON.parse(saved.metadataProps.find((p) => p.key === 'filterAtlas')!.value!);
    expect(meta.variant.operations[0].order).toEqual(op.order);
  });

  it('perturbs one conv and quantises every conv to int8 per output channel', async () => {
    const perturbed = await createVariant(source, { out: join(dir, 'n'), permute: [], perturb: [{ layer: '/layer2/conv2/Conv', scale: 0.5 }], seed: 1 }, { loadModel });
    expect(perturbed.operations[0]).toMatchObject({ kind: 'perturb', layer: '/layer2/conv2/Conv', relativeNorm: expect.closeTo(0.5, 1) });
    const quantized = await createVariant(source, { out: join(dir, 'q'), quantize: 'int8', permute: [], perturb: [], seed: 0 }, { loadModel });
    expect(quantized.operations[0]).toMatchObject({ kind: 'quantize', kernels: ['W1', 'W2', 'W3'] });
    const layers = ['/layer1/relu/Relu', '/layer2/relu/Relu'];
    const [a, p, q] = [await forward(base, layers), await forward(perturbed.variant, layers), await forward(quantized.variant, layers)];
    const maxDiff = (x: Float32Array, y: Float32Array) => Math.max(...x.map((v, i) => Math.abs(v - y[i])));
    const scale = Math.max(...a.get(layers[1])!.data.map(Math.abs));
    // Perturbing conv2 leaves layer 1 alone and changes layer 2; int8 changes both a little.
    expect(maxDiff(a.get(layers[0])!.data, p.get(layers[0])!.data)).toBe(0);
    expect(maxDiff(a.get(layers[1])!.data, p.get(layers[1])!.data)).toBeGreaterThan(0.05 * scale);
    expect(maxDiff(a.get(layers[1])!.data, q.get(layers[1])!.data)).toBeGreaterThan(0);
    expect(maxDiff(a.get(layers[1])!.data, q.get(layers[1])!.data)).toBeLessThan(0.05 * scale);
  });

  it('refuses a conv whose channels are mixed after it, and suggests node names', async () => {
    await expect(createVariant(source, { out: join(dir, 'x'), permute: ['/head/Conv'], perturb: [], seed: 0 }, { loadModel })).rejects.toThrow(
      '--permute /head/Conv: expected a Conv (group 1) whose output reaches exactly one next Conv',
    );
    await expect(createVariant(source, { out: join(dir, 'x'), permute: ['/layer1/conv/Conv'], perturb: [], seed: 0 }, { loadModel })).rejects.toThrow(
      'Did you mean "/layer1/conv1/Conv"',
    );
  });

  it('quantises each output channel with its own scale', () => {
    const { data, maxAbsError } = quantizeLeadingAxis(Float32Array.from([1, -0.5, 0.001, 0.002]), 2);
    expect(Array.from(data)).toEqual([1, Math.round(-0.5 * 127) / 127, expect.closeTo(0.001, 4), 0.002].map((v) => (typeof v === 'number' ? Math.fround(v) : v)));
    expect(maxAbsError).toBeLessThan(1 / 254 + 1e-9);
  });
});
