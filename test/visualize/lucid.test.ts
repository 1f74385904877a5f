/**
 * The lucid method end to end on the real onnxruntime engine and darknet-tiny, with short runs (a small
 * picture, few steps): the class filter's objective rises far above its start, pictures are displayable
 * and repeat byte for byte with the same seed, and the centre-neuron objective and the diversity group
 * work through the engine's backward call.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine } from '../../pipeline/engine/engine.js';
import { loadModel } from '../../pipeline/model/load.js';
import { encodePng } from '../../pipeline/render/images.js';
import { visualizeBatch } from '../../pipeline/visualize/batch.js';
import { runLucid } from '../../pipeline/visualize/lucid/loop.js';
import { centreNeuron, channelMean, type LucidObjective } from '../../pipeline/visualize/lucid/objective.js';
import { lucidParamsSchema, type LucidParams } from '../../pipeline/schema/lucid-params.js';
import type { Method } from '../../pipeline/schema/method.js';

const lucid = (fields: Record<string, unknown>): Method & { params: LucidParams } => ({ kind: 'lucid', params: lucidParamsSchema.parse(fields) });

describe('the lucid method with onnxruntime on darknet-tiny', () => {
  let engine: Engine;

  beforeAll(async () => {
    engine = await createEngine(await loadModel('darknet-tiny'), { engine: 'ort' });
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it('raises class filters far above their start, with pictures inside (0, 1) of the asked size, repeatable by seed', async () => {
    const method = lucid({ size: 64, steps: 32 });
    const options = { layer: 'conv2d_16', channels: 1000, filters: [1, 207], method, seed: 0 };
    const results = await visualizeBatch(engine, options);
    for (const result of results) {
      expect(result.status).toBe('ok');
      expect(result.image).toMatchObject({ height: 64, width: 64 });
      expect(result.image!.data.every((v) => v > 0 && v < 1)).toBe(true);
      expect(result.flags).toMatchObject({ dead: false, diverged: false, clippedFraction: 0 });
      // Measured: the logits start near 0 (flat grey) and reach about 10-20 after 32 steps.
      expect(result.activation - result.startActivation).toBeGreaterThan(5);
    }
    const again = await visualizeBatch(engine, options);
    for (const [i, result] of again.entries()) expect((await encodePng(result.image!)).equals(await encodePng(results[i].image!))).toBe(true);
    const [other] = await visualizeBatch(engine, { ...options, filters: [1], seed: 1 });
    expect((await encodePng(other.image!)).equals(await encodePng(results[0].image!))).toBe(false);
  });

  it("maximises the centre unit through the engine's backward call", async () => {
    const params = lucidParamsSchema.parse({ size: 48, steps: 16, objective: 'neuron' });
    const result = await runLucid(engine, {
      objective: centreNeuron('leaky_re_lu_10', 256, [3]),
      n: 1,
      copies: [0],
      params,
      learningRate: params.learningRate,
      seed: 0,
    });
    expect(result.diverged).toEqual([false]);
    expect(result.best[0] - result.start[0]).toBeGreaterThan(0.5);
  });

  it('draws a diversity group side by side, its images pushed apart', async () => {
    const method = lucid({ size: 40, steps: 8, diversity: { layer: 'leaky_re_lu_6', images: 2 } });
    const [result] = await visualizeBatch(engine, { layer: 'leaky_re_lu_10', channels: 256, filters: [5], method, seed: 0 });
    expect(result.status).toBe('ok');
    expect(result.image).toMatchObject({ height: 40, width: 80 });
    // The two halves start from other spectra and are pushed apart: they differ.
    const { data } = result.image!;
    let difference = 0;
    for (let c = 0; c < 3; c++) for (let y = 0; y < 40; y++) for (let x = 0; x < 40; x++) difference += Math.abs(data[(c * 40 + y) * 80 + x] - data[(c * 40 + y) * 80 + 40 + x]);
    expect(difference / (3 * 40 * 40)).toBeGreaterThan(0.01);
  });

  it('gives the same pictures bit for bit on one thread and on worker threads (images cut into ranges)', async () => {
    const params = lucidParamsSchema.parse({ size: 48, steps: 6 });
    const filters = [1, 207, 400];
    const run = (threads: number) => {
      const timing = { steps: 0, stepSeconds: 0, engineSeconds: 0, threads: 0 };
      const objective = channelMean('conv2d_16', 1000, filters);
      const input = { objective, n: 3, copies: [0, 0, 0], params, learningRate: params.learningRate, seed: 5, threads, timing };
      return runLucid(engine, input).then((result) => ({ result, timing }));
    };
    const one = await run(1);
    const three = await run(3);
    expect([one.timing.threads, three.timing.threads]).toEqual([1, 3]);
    expect(three.timing.steps).toBe(6);
    expect(three.timing.engineSeconds).toBeLessThan(three.timing.stepSeconds);
    expect(three.result.diverged).toEqual([false, false, false]);
    expect(Buffer.from(three.result.images.buffer).equals(Buffer.from(one.result.images.buffer))).toBe(true);
    expect(Array.from(three.result.best)).toEqual(Array.from(one.result.best));
  });

  it('freezes an image whose gradient or objective stops being finite, its NaNs kept from the others', async () => {
    const params = lucidParamsSchema.parse({ size: 40, steps: 6 });
    const filters = [1, 207, 400];
    const healthy = channelMean('conv2d_16', 1000, filters);
    let step = 0;
    // Image 1's gradient turns NaN at step 3, image 2's objective at step 4; image 0 stays healthy.
    const broken: LucidObjective = {
      description: 'channel mean, two images broken',
      async evaluate(engine, batch) {
        step += 1;
        const value = await healthy.evaluate(engine, batch);
        const per = value.gradient.length / batch.n;
        if (step >= 3) value.gradient.fill(Number.NaN, per, 2 * per);
        if (step >= 4) value.objective[2] = Number.NaN;
        return value;
      },
    };
    const input = { n: 3, copies: [0, 0, 0], params, learningRate: params.learningRate, seed: 2, threads: 2 };
    const taken = new Map<number, Float32Array>();
    const clean = await runLucid(engine, { ...input, objective: healthy, snapshots: { steps: [2, 3], take: (at, images) => void taken.set(at, images) } });
    const result = await runLucid(engine, { ...input, objective: broken });
    expect(result.diverged).toEqual([false, true, true]);
    expect(result.images.every(Number.isFinite)).toBe(true);
    // Images are independent: the healthy one is the clean run's, bit for bit. A frozen one keeps the
    // picture of its last finite step: image 1 took 2 Adam steps, image 2 took 3.
    const per = 3 * 40 * 40;
    const image = (images: Float32Array, i: number) => Buffer.from(images.slice(i * per, (i + 1) * per).buffer);
    expect(image(result.images, 0).equals(image(clean.images, 0))).toBe(true);
    expect(image(result.images, 1).equals(image(taken.get(2)!, 1))).toBe(true);
    expect(image(result.images, 2).equals(image(taken.get(3)!, 2))).toBe(true);
    expect([result.start[1], result.start[2]]).toEqual([clean.start[1], clean.start[2]]);
  });

  it('takes snapshots equal to the pictures of shorter runs: nothing in a step depends on the total step count', async () => {
    const filters = [1, 207];
    const run = (steps: number, snapshots?: { steps: number[]; take(step: number, images: Float32Array): void }) => {
      const params = lucidParamsSchema.parse({ size: 40, steps });
      return runLucid(engine, { objective: channelMean('conv2d_16', 1000, filters), n: 2, copies: [0, 0], params, learningRate: params.learningRate, seed: 3, ...(snapshots ? { snapshots } : {}) });
    };
    const taken = new Map<number, Float32Array>();
    const long = await run(12, { steps: [4, 8], take: (step, images) => void taken.set(step, images) });
    expect([...taken.keys()]).toEqual([4, 8]);
    for (const steps of [4, 8]) {
      const short = await run(steps);
      expect(Buffer.from(taken.get(steps)!.buffer).equals(Buffer.from(short.images.buffer))).toBe(true);
      // And the run went on from there: its last picture is another.
      expect(Buffer.from(long.images.buffer).equals(Buffer.from(short.images.buffer))).toBe(false);
    }
  });
});

