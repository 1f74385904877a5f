/**
 * `filter-atlas variant`: the weight operations on their own, then real darknet-tiny variants read
 * back through loadModel and run through the ORT engine: a permuted conv computes the same function
 * with its units reordered, a perturbed conv changes only itself and what follows, int8 stays close.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine, FeatureMaps, ImageBatch } from '../../pipeline/engine/engine.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { loadImageForModel } from '../../pipeline/image/load.js';
import { createVariant, parsePerturbFlag, SHARD_NAME } from '../../pipeline/variants/create.js';
import { metadataOf } from '../../pipeline/model/metadata.js';
import { permuteAxis, quantizeDequantizeInt8, randomPermutation } from '../../pipeline/variants/operations.js';
import { createRandom } from '../../pipeline/util/random.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';
import { sweepFilters } from '../../pipeline/visualize/sweep.js';
import type { FilterVisualization } from '../../pipeline/visualize/batch.js';

describe('weight operations', () => {
  it('permuteAxis moves whole slices along one axis', () => {
    // [2, 3] rows x columns; reorder columns as [2, 0, 1].
    const t = { shape: [2, 3], data: Float32Array.from([0, 1, 2, 10, 11, 12]) };
    expect(Array.from(permuteAxis(t, 1, [2, 0, 1]).data)).toEqual([2, 0, 1, 12, 10, 11]);
    expect(Array.from(permuteAxis(t, 0, [1, 0]).data)).toEqual([10, 11, 12, 0, 1, 2]);
    expect(() => permuteAxis(t, 1, [0, 1])).toThrow(RangeError);
  });

  it('randomPermutation is a seeded permutation and never the identity', () => {
    for (let seed = 0; seed < 50; seed++) {
      const order = randomPermutation(3, createRandom(seed));
      expect([...order].sort()).toEqual([0, 1, 2]);
      expect(order).not.toEqual([0, 1, 2]);
    }
    expect(randomPermutation(16, createRandom(5))).toEqual(randomPermutation(16, createRandom(5)));
    expect(randomPermutation(1, createRandom(5))).toEqual([0]);
  });

  it('int8 quantisation uses one scale per output channel and errs by at most half a step', () => {
    // Two output channels (trailing axis) of very different ranges: one shared scale would flatten channel 1.
    const data = Float32Array.from([1.0, 0.001, -0.5, 0.0007, 0.25, -0.0013, 0, 0]);
    const { data: q, maxAbsError } = quantizeDequantizeInt8(data, 2);
    for (let i = 0; i < data.length; i++) {
      const step = (i % 2 === 0 ? 1.0 : 0.0013) / 127;
      expect(Math.abs(q[i] - data[i])).toBeLessThanOrEqual(step / 2 + 1e-9);
      expect(Math.round(q[i] / step)).toBeCloseTo(q[i] / step, 3); // on the int8 grid
    }
    expect(q[1]).not.toBe(0);
    expect(maxAbsError).toBeGreaterThan(0);
    expect(Array.from(quantizeDequantizeInt8(new Float32Array(4), 2).data)).toEqual([0, 0, 0, 0]);
  });

  it('parses --perturb LAYER:SCALE and says what is wrong otherwise', () => {
    expect(parsePerturbFlag('conv2d_3:0.5')).toEqual({ layer: 'conv2d_3', scale: 0.5 });
    expect(() => parsePerturbFlag('conv2d_3')).toThrow('--perturb: expected LAYER:SCALE with a non-negative relative scale, e.g. conv2d_3:0.5, received "conv2d_3"');
    expect(() => parsePerturbFlag('conv2d_3:-1')).toThrow('received "conv2d_3:-1"');
  });
});

describe('darknet-tiny variants', () => {
  let dir: string;
  let base: CnnModel;
  let baseEngine: Engine;
  let batch: ImageBatch;
  const layers = ['leaky_re_lu_2', 'leaky_re_lu_3', 'global_average_pooling2d_1'];

  async function forward(model: CnnModel): Promise<Map<string, FeatureMaps>> {
    const engine = model === base ? baseEngine : await createEngine(model, { engine: 'ort' });
    try {
      return await engine.forward(batch, layers);
    } finally {
      if (engine !== baseEngine) await engine.dispose();
    }
  }

  const maxAbs = (data: Float32Array) => data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fa-variant-'));
    base = await loadModel('darknet-tiny');
    baseEngine = await createEngine(base, { engine: 'ort' });
    const photos = await ensureAsset('photos');
    const images = await Promise.all(['chelsea.png', 'rocket.jpg'].map((f) => loadImageForModel(join(photos, f), base.preprocessing)));
    const [height, width] = base.preprocessing.inputSize;
    const data = new Float32Array(images.length * 3 * height * width);
    images.forEach((image, i) => data.set(image.data, i * 3 * height * width));
    batch = { data, n: images.length, height, width };
  });

  afterAll(async () => {
    await baseEngine?.dispose();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('writes model.json + one shard that loadModel reads with the base preprocessing, labels and provenance', async () => {
    const result = await createVariant('darknet-tiny', { out: join(dir, 'q'), quantize: 'int8', permute: [], perturb: [], seed: 0 }, { loadModel });
    const json = JSON.parse(await readFile(result.modelFile, 'utf8'));
    expect(json.weightsManifest).toEqual([expect.objectContaining({ paths: [SHARD_NAME] })]);
    const variant = await loadModel(join(dir, 'q'));
    expect(variant.preprocessing).toEqual(base.preprocessing); // [0, 1] input, not the ImageNet default
    expect(variant.labels).toEqual(base.labels);
    expect(variant.name).toBe('darknet-tiny (int8)');
    expect(variant.weightsDigest).not.toBe(base.weightsDigest);
    const meta = metadataOf(json, result.modelFile)!;
    expect(meta.variant?.of.weightsDigest).toBe(base.weightsDigest);
    expect(meta.variant?.operations[0]).toMatchObject({ kind: 'quantize', kernels: expect.arrayContaining(['conv2d_1/kernel', 'conv2d_16/kernel']) });

    // int8 drifts the class scores a little (largest change measured: 5 % of the top score), never the predicted class.
    const [a, b] = [await forward(base), await forward(variant)];
    const la = a.get('global_average_pooling2d_1')!.data;
    const lb = b.get('global_average_pooling2d_1')!.data;
    const diff = la.map((v, i) => v - lb[i]);
    expect(maxAbs(diff)).toBeGreaterThan(0);
    expect(maxAbs(diff)).toBeLessThan(0.1 * maxAbs(la));
    const argmax = (x: Float32Array, n: number) => x.subarray(n * 1000, (n + 1) * 1000).reduce((best, v, i, row) => (v > row[best] ? i : best), 0);
    for (let n = 0; n < batch.n; n++) expect(argmax(lb, n)).toBe(argmax(la, n));
  });

  it('a permuted conv computes the same function with its units reordered', async () => {
    const result = await createVariant('darknet-tiny', { out: join(dir, 'p'), permute: ['conv2d_2'], perturb: [], seed: 1 }, { loadModel });
    const op = result.operations[0];
    expect(op).toMatchObject({ kind: 'permute', layer: 'conv2d_2', batchNorms: ['batch_normalization_2'], next: 'conv2d_3' });
    if (op.kind !== 'permute') throw new Error('unreachable');
    const [a, b] = [await forward(base), await forward(result.variant)];
    const ma = a.get('leaky_re_lu_2')!;
    const mb = b.get('leaky_re_lu_2')!;
    const plane = ma.height * ma.width;
    // B's channel j is A's channel order[j], exactly (same arithmetic up to the permutation).
    for (let n = 0; n < ma.n; n++) {
      for (let j = 0; j < ma.channels; j++) {
        const fromB = mb.data.subarray((n * 32 + j) * plane, (n * 32 + j + 1) * plane);
        const fromA = ma.data.subarray((n * 32 + op.order[j]) * plane, (n * 32 + op.order[j] + 1) * plane);
        expect(maxAbs(fromB.map((v, i) => v - fromA[i]))).toBeLessThan(1e-5);
      }
    }
    // After the next conv, nothing is reordered any more: only summation order differs.
    for (const layer of ['leaky_re_lu_3', 'global_average_pooling2d_1']) {
      const x = a.get(layer)!.data;
      const y = b.get(layer)!.data;
      expect(maxAbs(x.map((v, i) => v - y[i]))).toBeLessThan(1e-4 * Math.max(1, maxAbs(x)));
    }
  });

  it('a permuted unit draws the same picture as the unit it was, whatever its new index and batch slot', async () => {
    const result = await createVariant('darknet-tiny', { out: join(dir, 'pv'), permute: ['conv2d_2'], perturb: [], seed: 1 }, { loadModel });
    const op = result.operations[0];
    if (op.kind !== 'permute') throw new Error('unreachable');
    const params = methodParamsSchema.parse({ scales: 2, stepsPerScale: 3, startSize: 24 });
    const filters = Array.from({ length: 8 }, (_, i) => i);
    const draw = async (model: CnnModel, engine: Engine) => {
      // sweepFilters keeps no results (issue 13): collect them here.
      const results: FilterVisualization[] = [];
      await sweepFilters(engine, { layer: 'leaky_re_lu_2', channels: 32, filters, method: { kind: 'article', params }, seed: 3, batchSize: 4, preprocessing: model.preprocessing, onResult: (r) => void results.push(r) });
      return results;
    };
    const variantEngine = await createEngine(result.variant, { engine: 'ort' });
    try {
      const [a, b] = [await draw(base, baseEngine), await draw(result.variant, variantEngine)];
      // Unit j of B is unit order[j] of A; both among the first 8, in other slots and batches.
      const moved = filters.filter((j) => op.order[j] < 8 && op.order[j] !== j);
      expect(moved.length).toBeGreaterThan(0);
      for (const j of moved) {
        expect(Buffer.from(b[j].image!.data.buffer).equals(Buffer.from(a[op.order[j]].image!.data.buffer)), `B#${j} = A#${op.order[j]}`).toBe(true);
      }
    } finally {
      await variantEngine.dispose();
    }
  });

  it('a perturbed conv changes itself and what follows, never what comes before', async () => {
    const result = await createVariant('darknet-tiny', { out: join(dir, 'n'), permute: [], perturb: [{ layer: 'conv2d_3', scale: 0.5 }], seed: 1 }, { loadModel });
    const op = result.operations[0];
    expect(op.kind === 'perturb' && op.relativeNorm).toBeGreaterThan(0.4);
    expect(op.kind === 'perturb' && op.relativeNorm).toBeLessThan(0.6);
    const [a, b] = [await forward(base), await forward(result.variant)];
    expect(Array.from(b.get('leaky_re_lu_2')!.data)).toEqual(Array.from(a.get('leaky_re_lu_2')!.data));
    const x = a.get('leaky_re_lu_3')!.data;
    const y = b.get('leaky_re_lu_3')!.data;
    expect(maxAbs(x.map((v, i) => v - y[i]))).toBeGreaterThan(0.05 * maxAbs(x));
    // Seeded: the same seed gives the same weights.
    const again = await createVariant('darknet-tiny', { out: join(dir, 'n2'), permute: [], perturb: [{ layer: 'conv2d_3', scale: 0.5 }], seed: 1 }, { loadModel });
    expect(again.variant.weightsDigest).toBe(result.variant.weightsDigest);
  });

  it('refuses what would not be a version of the same function, or would overwrite the source', async () => {
    await expect(createVariant('darknet-tiny', { out: join(dir, 'x'), permute: ['conv2d_16'], perturb: [], seed: 0 }, { loadModel })).rejects.toThrow(
      '--permute conv2d_16: expected a conv whose output reaches exactly one next Conv2D through BatchNormalization, activation, pooling, padding or dropout layers (so the model\'s function is unchanged), received global_average_pooling2d_1 (GlobalAveragePooling2D)',
    );
    await expect(createVariant('darknet-tiny', { out: join(dir, 'x'), permute: ['leaky_re_lu_2'], perturb: [], seed: 0 }, { loadModel })).rejects.toThrow(
      '--permute: expected a Conv2D layer of the model (conv2d_1, conv2d_2',
    );
    await expect(createVariant('darknet-tiny', { out: join(dir, 'x'), permute: [], perturb: [], seed: 0 }, { loadModel })).rejects.toThrow(
      'filter-atlas variant: expected at least one of --quantize int8, --permute LAYER, --perturb LAYER:SCALE, received none',
    );
    const source = await ensureAsset('darknet-tiny');
    await expect(createVariant('darknet-tiny', { out: source, quantize: 'int8', permute: [], perturb: [], seed: 0 }, { loadModel })).rejects.toThrow("--output: expected a folder other than the source model's");
  });
});
