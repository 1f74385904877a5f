/**
 * The ascent step emitted into the graph (ort/ascent-program.ts) against the host Adam
 * (visualize/adam.ts) on the CPU provider: the same images and moments within float32 rounding, the
 * same objective, step after step; a diverged image frozen as the host loop freezes it. And the
 * whole multi-scale ascent (visualize/loop.ts) through Engine.startAscent equals the host path.
 * The program for a GPU provider has only ops WebGPU has kernels for.
 */
import onnxProto from 'onnx-proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../pipeline/engine/engine.js';
import { buildAscentProgram } from '../../pipeline/engine/ort/ascent-program.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { formatPlacement } from '../../pipeline/engine/ort/placement.js';
import { GPU_EMISSION } from '../../pipeline/engine/ort/programs.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { SizedGraphs } from '../../pipeline/model/sized.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';
import { adamScalars, createAdam } from '../../pipeline/visualize/adam.js';
import { runAscent, startImages } from '../../pipeline/visualize/loop.js';
import { channelObjective } from '../../pipeline/visualize/objective.js';
import { gradientToParams, IMAGENET_SPACE, imagesToParams, paramsToImages } from '../../pipeline/visualize/parameterization.js';
import { relativeError } from '../util/relative-error.js';

const { onnx } = onnxProto;
const LAYER = 'leaky_re_lu_6';
const SIZE = 24;
const N = 2;

describe('the ascent step in the graph, on the CPU provider', () => {
  let model: CnnModel;
  let host: Engine;
  let device: Engine;

  beforeAll(async () => {
    model = await loadModel('darknet-tiny');
    host = await createOrtEngine(model, { engine: 'ort', device: 'cpu', threads: 2 });
    device = await createOrtEngine(model, { engine: 'ort', device: 'cpu', threads: 2, ascentOnDevice: true });
  });
  afterAll(async () => {
    await host?.dispose();
    await device?.dispose();
  });

  it('is offered only where asked for, or on WebGPU', () => {
    expect(host.startAscent).toBeUndefined();
    expect(device.startAscent).toBeTypeOf('function');
    // Nothing crosses a bus on the CPU.
    expect(host.bytesMoved).toBeUndefined();
  });

  it('equals adam.ts step after step', async () => {
    const params = methodParamsSchema.parse({ scales: 1, stepsPerScale: 4 });
    const shape = { n: N, height: SIZE, width: SIZE };
    const objective = channelObjective(LAYER, 128, [3, 40]);
    const x = imagesToParams(startImages([3, 40], { ...params, startSize: SIZE }, 7), shape, IMAGENET_SPACE);
    const options = { learningRate: 0.05, weightDecay: 1e-4 };
    const adam = createAdam(x.length, options);
    const hostX = Float32Array.from(x);
    const ascent = await device.startAscent!({ params: Float32Array.from(x), ...shape, layer: LAYER, channelWeights: objective.weights, space: IMAGENET_SPACE, frozen: [false, false], adam: { weightDecay: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 } });
    try {
      for (let t = 1; t <= 4; t++) {
        const expected = await host.objectiveGradient({ data: paramsToImages(hostX, shape, IMAGENET_SPACE), ...shape }, LAYER, objective.weights);
        adam.step(hostX, gradientToParams(expected.gradient, shape, IMAGENET_SPACE, -1));
        const { stepSize, sqrtCorrection2 } = adamScalars(t, options);
        const values = await ascent.step(stepSize, sqrtCorrection2);
        expect(relativeError(values, expected.objective)).toBeLessThan(1e-5);
      }
      const { params: deviceX, gradientSeen } = await ascent.finish();
      const moved = relativeError(deviceX.map((v, i) => v - x[i]), hostX.map((v, i) => v - x[i]));
      console.log(`in-graph Adam against adam.ts after 4 steps: ${moved.toExponential(1)} of the largest change`);
      expect(moved).toBeLessThan(1e-4);
      expect(gradientSeen).toEqual([true, true]);
    } finally {
      await ascent.dispose();
    }
  });

  it('freezes an image whose objective is not finite: x set to 0, never updated, NaN returned', async () => {
    const shape = { n: N, height: SIZE, width: SIZE };
    const objective = channelObjective(LAYER, 128, [3, 40]);
    const x = new Float32Array(N * 3 * SIZE * SIZE).fill(0.3);
    x[5] = Number.NaN; // image 0 diverges at once
    const adam = { weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 };
    const ascent = await device.startAscent!({ params: x, ...shape, layer: LAYER, channelWeights: objective.weights, space: IMAGENET_SPACE, frozen: [false, false], adam });
    try {
      const first = await ascent.step(0.05, Math.sqrt(0.001));
      expect(Number.isFinite(first[0])).toBe(false);
      expect(Number.isFinite(first[1])).toBe(true);
      await ascent.step(0.05, Math.sqrt(0.002));
      const { params, gradientSeen } = await ascent.finish();
      const perImage = 3 * SIZE * SIZE;
      expect(params.subarray(0, perImage).every((v) => v === 0)).toBe(true);
      expect(params.subarray(perImage).some((v) => v !== 0.3)).toBe(true);
      expect(gradientSeen).toEqual([false, true]);
    } finally {
      await ascent.dispose();
    }
  });

  it('runs the multi-scale ascent like the host path', async () => {
    const params = methodParamsSchema.parse({ scales: 2, stepsPerScale: 3, startSize: 20, upscale: 1.2 });
    const objective = channelObjective(LAYER, 128, [5, 9]);
    const input = { objective, filters: [5, 9], params, learningRate: 0.05, seed: 3, space: IMAGENET_SPACE };
    const [onHost, onDevice] = [await runAscent(host, input), await runAscent(device, input)];
    const error = relativeError(onDevice.images, onHost.images);
    console.log(`runAscent through startAscent against the host path: ${error.toExponential(1)} of the largest value`);
    expect(error).toBeLessThan(1e-4);
    expect(relativeError(onDevice.best, onHost.best)).toBeLessThan(1e-4);
    expect(relativeError(onDevice.start, onHost.start)).toBeLessThan(1e-5);
    expect(onDevice.gradientSeen).toEqual(onHost.gradientSeen);
    expect(onDevice.diverged).toEqual(onHost.diverged);
  });
});

describe('the ascent program for a GPU provider', () => {
  it('has no op the WebGPU provider lacks, no shape arithmetic, and no boolean image-shaped tensor', async () => {
    const model = await loadModel('darknet-tiny');
    const sized = new SizedGraphs(model).at([67, 67]);
    const program = buildAscentProgram(model, sized, 'leaky_re_lu_10', IMAGENET_SPACE, { weightDecay: 1e-4, beta1: 0.9, beta2: 0.999, eps: 1e-8 }, GPU_EMISSION);
    const graph = onnx.ModelProto.decode(program.bytes).graph!;
    const ops = new Set((graph.node ?? []).map((n) => n.opType ?? ''));
    for (const op of ['MaxUnpool', 'ScatterElements', 'Sum', 'Sign', 'Shape', 'Size', 'Gather', 'ConstantOfShape', 'Range', 'Squeeze', 'IsNaN', 'IsInf', 'Cast']) expect(ops.has(op), op).toBe(false);
    // Where selects on N-vectors or rows (an N x 1 condition against N x 3HW): a 4-d boolean would get a
    // Transpose from the layout pass, which WebGPU lacks for booleans.
    const producer = new Map((graph.node ?? []).flatMap((n) => (n.output ?? []).map((o) => [o, n] as const)));
    const initializer = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
    const wheres = (graph.node ?? []).filter((n) => n.opType === 'Where');
    expect(wheres.length).toBeGreaterThanOrEqual(6);
    for (const where of wheres) {
      const condition = producer.get(where.input![0])!;
      if (condition.opType === 'Unsqueeze') expect((initializer.get(condition.input![1])!.dims ?? []).map(Number), where.output![0]).toEqual([1]);
      else expect(['Equal', 'Greater'], where.output![0]).toContain(condition.opType);
    }
  });

  it('says what crosses per step and per scale in its placement line', () => {
    const line = formatPlacement({
      graph: 'ascent|conv2d_16|67x67',
      nodes: 233,
      providers: { webgpu: { nodes: 233, flops: 0.43e9 } },
      copies: { nodes: 0, bytes: 0 },
      transfers: { toDevice: 8, toHost: 8, scale: { toDevice: 228_304, toHost: 107_744 } },
      cpuOps: {},
    });
    expect(line).toBe('placement ascent|conv2d_16|67x67: 233 nodes, webgpu 233 (100.0 % of 0.43 GFLOP); no host<->device copies; per step: inputs 8 bytes to the device, outputs 8 bytes back; per scale: 0.228 MB in at its start, 0.108 MB back at its end');
  });
});
