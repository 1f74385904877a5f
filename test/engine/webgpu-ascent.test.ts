/**
 * The ascent with its state on the WebGPU provider (Engine.startAscent, ort/ascent-program.ts), on
 * Debian chromium's SwiftShader Vulkan driver (a software adapter; no GPU needed), against the host
 * Adam (visualize/adam.ts) on the CPU provider, step by step from the same images: the objective of
 * every step within 1e-4 of the largest value, and the images after the steps (2 or 3) (Adam's first steps
 * move each pixel by about the learning rate whatever the gradient's size, so a pixel whose gradient
 * is within rounding of 0 can differ by that much: the images are held to 1e-4 in relative L2). Only
 * the objective comes back per step (4 bytes an image), and the two Adam scalars go in (8 bytes);
 * every node of the ascent program runs on WebGPU with no copy inside it.
 * Outside CI a machine without chromium skips this; CI installs chromium.
 */
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { PlacementReport } from '../../pipeline/engine/engine.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { formatPlacement } from '../../pipeline/engine/ort/placement.js';
import type { CnnModel, Pair } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { adamScalars, createAdam } from '../../pipeline/visualize/adam.js';
import { gradientToParams, IMAGENET_SPACE, imagesToParams, paramsToImages } from '../../pipeline/visualize/parameterization.js';
import { channelsOf, randomWeights } from './helpers/gradcheck.js';
import { randomImages } from './helpers/graphs.js';
import { randomVgg16Bn } from './helpers/vgg-weights.js';

const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const present = existsSync(ICD);
// The Vulkan loader reads these when Dawn first starts in this process, which is below.
process.env.VK_ICD_FILENAMES = ICD;

interface Case {
  name: string;
  load: () => Promise<CnnModel>;
  layer: string;
  size: Pair;
  /** Adam steps: the first sends the state, every later one only the scalars. */
  steps: number;
}

const cases: Case[] = [
  { name: 'darknet-tiny', load: () => loadModel('darknet-tiny'), layer: 'leaky_re_lu_6', size: [56, 56], steps: 3 },
  { name: 'darknet-tiny', load: () => loadModel('darknet-tiny'), layer: 'conv2d_16', size: [67, 67], steps: 3 },
  // Two steps: a VGG16-BN step takes about a minute on SwiftShader on the 2 shared cores.
  { name: 'vgg16_bn (generated weights)', load: () => randomVgg16Bn(), layer: '42', size: [64, 64], steps: 2 },
];

const N = 2;
const OPTIONS = { learningRate: 0.05, weightDecay: 1e-4 };

const largest = (values: ArrayLike<number>) => Math.max(...Array.from(values, Math.abs));
const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
function relativeL2(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < b.length; i++) {
    diff += (a[i] - b[i]) ** 2;
    norm += b[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

describe.skipIf(!present && !process.env.CI)('the ascent on WebGPU (SwiftShader) with its state on the device, against the host Adam on the CPU', () => {
  it.each(cases)('$name at $layer, $size.0 px', async ({ load, layer, size, steps: STEPS }) => {
    expect(present, `${ICD} (Debian's chromium package)`).toBe(true);
    const model = await load();
    const shape = { n: N, height: size[0], width: size[1] };
    const weights = randomWeights(N, channelsOf(model, layer, size));
    const x0 = imagesToParams(randomImages(N, size, 5).data, shape, IMAGENET_SPACE);

    // The host path, as visualize/loop.ts runs it on the CPU.
    const cpu = await createOrtEngine(model, { engine: 'ort', device: 'cpu', threads: 2 });
    const hostObjectives: Float32Array[] = [];
    const hostX = Float32Array.from(x0);
    try {
      const adam = createAdam(hostX.length, OPTIONS);
      for (let t = 1; t <= STEPS; t++) {
        const { objective, gradient } = await cpu.objectiveGradient({ data: paramsToImages(hostX, shape, IMAGENET_SPACE), ...shape }, layer, weights);
        hostObjectives.push(Float32Array.from(objective));
        adam.step(hostX, gradientToParams(gradient, shape, IMAGENET_SPACE, -1));
      }
    } finally {
      await cpu.dispose();
    }

    const placements: PlacementReport[] = [];
    const gpu = await createOrtEngine(model, { engine: 'ort', device: 'webgpu', threads: 2, onPlacement: (report) => placements.push(report) });
    const deviceObjectives: Float32Array[] = [];
    const perStep: { toDevice: number; toHost: number }[] = [];
    let deviceX: Float32Array;
    try {
      expect(gpu.startAscent, 'WebGPU keeps the ascent on the device').toBeDefined();
      const ascent = await gpu.startAscent!({ params: Float32Array.from(x0), ...shape, layer, channelWeights: weights, space: IMAGENET_SPACE, frozen: [false, false], adam: { weightDecay: OPTIONS.weightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8 } });
      try {
        for (let t = 1; t <= STEPS; t++) {
          const before = gpu.bytesMoved!();
          const { stepSize, sqrtCorrection2 } = adamScalars(t, OPTIONS);
          deviceObjectives.push(Float32Array.from(await ascent.step(stepSize, sqrtCorrection2)));
          const after = gpu.bytesMoved!();
          perStep.push({ toDevice: after.toDevice - before.toDevice, toHost: after.toHost - before.toHost });
        }
        ({ params: deviceX } = await ascent.finish());
      } finally {
        await ascent.dispose();
      }
    } finally {
      await gpu.dispose();
    }

    const objective = Math.max(...hostObjectives.map((h, t) => worst(deviceObjectives[t], h) / largest(h)));
    const images = relativeL2(paramsToImages(deviceX, shape, IMAGENET_SPACE), paramsToImages(hostX, shape, IMAGENET_SPACE));
    const moved = relativeL2(deviceX.map((v, i) => v - x0[i]), hostX.map((v, i) => v - x0[i]));
    console.log(`${layer}: ${STEPS} steps on WebGPU with the state on the device against the host Adam on the CPU: objective ${objective.toExponential(1)} of the largest value, images ${images.toExponential(1)} relative L2 (their change ${moved.toExponential(1)})`);
    expect(objective).toBeLessThan(1e-4);
    expect(images).toBeLessThan(1e-4);

    // The first step sends the state; after it only the two scalars go in and the objective comes back.
    console.log(`${layer}: bytes per step ${JSON.stringify(perStep)}`);
    for (const step of perStep.slice(1)) expect(step).toEqual({ toDevice: 8, toHost: 4 * N });
    const ascentReport = placements.find((p) => p.graph.startsWith('ascent|'))!;
    console.log(formatPlacement(ascentReport));
    expect(ascentReport.providers.webgpu?.nodes).toBe(ascentReport.nodes);
    expect(ascentReport.copies.nodes).toBe(0);
    expect(ascentReport.transfers).toEqual({ toDevice: 8, toHost: 4 * N, scale: { toDevice: 4 * (3 * x0.length + weights.length + 2 * N), toHost: 4 * (x0.length + N) } });
  });
});
