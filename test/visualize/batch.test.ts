import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { encodePng } from '../../pipeline/render/images.js';
import { visualizeBatch, type FilterVisualization } from '../../pipeline/visualize/batch.js';
import { startImages } from '../../pipeline/visualize/loop.js';
import { noiseImage } from '../../pipeline/visualize/parameterization.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';
import { lucidParamsSchema } from '../../pipeline/schema/lucid-params.js';
import { chooseBatchSize, LUCID_MAX_BATCH_SIZE, MAX_BATCH_SIZE, sweepFilters } from '../../pipeline/visualize/sweep.js';
import { createFakeEngine } from './fake-engine.js';

// A short schedule keeps the fake runs to milliseconds: sizes 16, 19, 22.
const params = methodParamsSchema.parse({ startSize: 16, scales: 3, stepsPerScale: 15 });
const base = { layer: 'fake', channels: 4, method: { kind: 'article' as const, params }, seed: 1 };

describe('visualizeBatch with an analytic objective', () => {
  it('raises the objective towards its known optimum (0)', async () => {
    const engine = createFakeEngine({ channels: 4 });
    const [result] = await visualizeBatch(engine, { ...base, filters: [2] });
    expect(result.status).toBe('ok');
    expect(result.startActivation).toBeLessThan(-0.05);
    expect(result.activation).toBeGreaterThan(result.startActivation / 10); // 90 % of the way to 0
    expect(result.activation).toBeLessThanOrEqual(0);
    expect(result.image!.height).toBe(22);
    expect(result.flags).toMatchObject({ dead: false, diverged: false, lowContrast: false });
    expect(result.flags.clippedFraction).toBe(0); // targets lie inside (0.1, 0.9)
    expect(engine.calls).toEqual(new Array(45).fill(1));
  });

  it('optimises in the model space too (the article space)', async () => {
    const engine = createFakeEngine({ channels: 4 });
    const model = methodParamsSchema.parse({ ...params, space: 'model', clipBetweenScales: false });
    const [result] = await visualizeBatch(engine, { ...base, method: { kind: 'article', params: model }, filters: [1], preprocessing: { mean: [0, 0, 0], std: [1, 1, 1] } });
    expect(result.activation).toBeGreaterThan(result.startActivation / 10);
  });

  it('gives identical PNG bytes for the same seed and different ones for another seed', async () => {
    const run = async (seed: number) => {
      const [result] = await visualizeBatch(createFakeEngine({ channels: 4 }), { ...base, seed, filters: [0] });
      return encodePng(result.image!);
    };
    const [a, b, c] = [await run(5), await run(5), await run(6)];
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
  });

  it("starts every filter from the seed's noise, whatever its index, and gives the same result batched or alone", async () => {
    const starts = startImages([3, 0, 1], params, 9);
    const noise = Array.from(noiseImage(9, 16, params.noise));
    for (const slot of [0, 1, 2]) expect(Array.from(starts.subarray(slot * 3 * 16 * 16, (slot + 1) * 3 * 16 * 16))).toEqual(noise);
    const batched = await visualizeBatch(createFakeEngine({ channels: 4 }), { ...base, seed: 9, filters: [3, 0, 1] });
    for (const result of batched) {
      const [alone] = await visualizeBatch(createFakeEngine({ channels: 4 }), { ...base, seed: 9, filters: [result.filter] });
      expect(Buffer.from(result.image!.data.buffer).equals(Buffer.from(alone.image!.data.buffer))).toBe(true);
      expect(result.activation).toBe(alone.activation);
    }
    expect(batched.map((r) => r.filter)).toEqual([3, 0, 1]);
  });

  it('retries a diverged filter once at half the learning rate, and fails one that diverges again', async () => {
    // Adam overshoots the target (max 0.9) of channel 1: pixels reach 1.16 at lr 1.2, 1.07 at lr 0.6 (measured).
    // A cap of 1.1 makes it overflow only at the first try; channel 3's cap is below the start noise.
    const optimistic = methodParamsSchema.parse({ ...params, learningRate: 1.2 });
    const engine = createFakeEngine({ channels: 4, nanAbove: new Map([[1, 1.1], [3, 0.5]]) });
    const results = await visualizeBatch(engine, { ...base, method: { kind: 'article', params: optimistic }, filters: [0, 1, 3] });
    const [zero, one, three] = results;
    expect(zero.flags.diverged).toBe(false);
    expect(one.flags.diverged).toBe(true);
    expect(one.status).toBe('ok');
    expect(Number.isFinite(one.activation)).toBe(true);
    expect(three.status).toBe('failed');
    expect(three.image).toBeNull();
    expect(three.flags.diverged).toBe(true);
    // First attempt batch of 3, then the retry of the two diverged filters.
    expect(engine.calls.slice(0, 45).every((n) => n === 3)).toBe(true);
    expect(engine.calls.slice(45)).toEqual(new Array(45).fill(2));
  });

  it('flags a filter whose objective and gradient stay zero as dead', async () => {
    const [result] = await visualizeBatch(createFakeEngine({ channels: 4, deadChannels: [2] }), { ...base, filters: [2] });
    expect(result.status).toBe('dead');
    expect(result.flags.dead).toBe(true);
    expect(result.activation).toBe(0);
  });

  it('rejects filters outside the layer, naming its channel count', async () => {
    await expect(visualizeBatch(createFakeEngine({ channels: 4 }), { ...base, filters: [4] })).rejects.toThrow(
      'filter 4 of layer "fake": expected a filter index from 0 to 3 (the layer has 4 channels), received 4',
    );
  });
});

describe('sweepFilters', () => {
  it('runs batches, reports every filter as its batch finishes, and keeps the order', async () => {
    const engine = createFakeEngine({ channels: 4 });
    const results: FilterVisualization[] = [];
    await sweepFilters(engine, { ...base, filters: [3, 2, 1, 0, 2], batchSize: 2, onResult: (r) => void results.push(r) });
    expect(results.map((r) => r.filter)).toEqual([3, 2, 1, 0, 2]);
    expect(new Set(engine.calls)).toEqual(new Set([2, 1]));
    // The same filter gives the same image in any batch.
    expect(results[1].image!.data).toEqual(results[4].image!.data);
  });

  it('keeps no finished batch: its images can be freed while later batches run', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const firstBatch: WeakRef<object>[] = [];
    let collected: boolean[] = [];
    await sweepFilters(createFakeEngine({ channels: 4 }), {
      ...base,
      filters: [0, 1, 2, 3],
      batchSize: 2,
      onResult: async (result) => {
        if (result.filter < 2) firstBatch.push(new WeakRef(result.image!));
        if (result.filter !== 3) return;
        // A new macrotask first: objects a WeakRef was created for stay alive until the task that made it ends.
        await new Promise((done) => setTimeout(done, 0));
        gc();
        collected = firstBatch.map((ref) => ref.deref() === undefined);
      },
    });
    expect(collected).toEqual([true, true]);
  });

  it('stops between steps when aborted', async () => {
    const engine = createFakeEngine({ channels: 4 });
    const controller = new AbortController();
    const promise = sweepFilters(engine, {
      ...base,
      filters: [0, 1, 2, 3],
      batchSize: 1,
      concurrency: 2,
      signal: controller.signal,
      onStep: () => controller.abort(),
    });
    await expect(promise).rejects.toMatchObject({ name: 'AbortError' });
    expect(engine.calls.length).toBeLessThanOrEqual(2);
  });
});

describe('chooseBatchSize', () => {
  // A two-conv graph: 3 -> 8 channels (3x3, pad 1) -> relu; weights only need their shapes here.
  const model = {
    graph: {
      inputChannels: 3,
      output: 'relu',
      nodes: [
        {
          name: 'conv',
          inputs: ['input'],
          op: { kind: 'conv', weight: { shape: [8, 3, 3, 3], data: new Float32Array(216) }, strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 },
        },
        { name: 'relu', inputs: ['conv'], op: { kind: 'relu' } },
        {
          name: 'unused',
          inputs: ['input'],
          op: { kind: 'conv', weight: { shape: [4096, 3, 1, 1], data: new Float32Array(0) }, strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
        },
      ],
    },
  } as unknown as CnnModel;

  it('fits the final-scale activations of the layer into the budget', () => {
    const small = { kind: 'article' as const, params: methodParamsSchema.parse({ scales: 1, startSize: 100 }) };
    // Per image: 12 bytes x (8 + 8) x 100 x 100 (conv + relu) + 96 x 100 x 100 = 2.88 MB; the unused branch does not count.
    expect(chooseBatchSize(model, 'relu', small, 10)).toBe(3);
    expect(chooseBatchSize(model, 'relu', small, 0.1)).toBe(1);
    expect(chooseBatchSize(model, 'relu', small, 100_000)).toBe(MAX_BATCH_SIZE);
    expect(chooseBatchSize(model, 'conv', small, 10)).toBeGreaterThanOrEqual(chooseBatchSize(model, 'relu', small, 10));
    // At the article's 408 px one image needs ~48 MB: never less than one image per batch.
    expect(chooseBatchSize(model, 'relu', { kind: 'article', params: methodParamsSchema.parse({}) }, 10)).toBe(1);
  });

  it("caps the lucid method's batches at its measured best, memory permitting", () => {
    const lucid = { kind: 'lucid' as const, params: lucidParamsSchema.parse({ size: 32 }) };
    expect(chooseBatchSize(model, 'relu', lucid, 100_000)).toBe(LUCID_MAX_BATCH_SIZE);
    expect(chooseBatchSize(model, 'relu', lucid, 0.1)).toBe(1);
  });
});
