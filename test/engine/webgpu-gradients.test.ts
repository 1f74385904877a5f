/**
 * The engine's gradient programs on ONNX Runtime's WebGPU provider, on Debian chromium's SwiftShader
 * Vulkan driver (a software adapter; no GPU needed): objective and input gradient equal the CPU
 * provider's within 1e-4 of the largest value, for darknet-tiny at two layers, VGG16-BN (generated
 * weights) at layer 42 at 64 px, and four torchvision classifiers from the operator tests (max-pool:
 * resnet18; depthwise convs: mobilenet_v2; squeeze-excitation: efficientnet_b0; LayerNorm:
 * convnext_tiny). The GPU emission (programs.ts) puts every node of each of these gradient programs
 * on WebGPU, with no copy inside the program; and its max-pool gradient routes ties as PyTorch's does. Outside CI a machine without chromium skips this; CI installs chromium.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import type { PlacementReport } from '../../pipeline/engine/engine.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { formatPlacement } from '../../pipeline/engine/ort/placement.js';
import { INPUT, type CnnModel, type Pair } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { PYTHON, torchFixtures } from '../torch/fixtures.js';
import { channelsOf, randomWeights } from './helpers/gradcheck.js';
import { randomImages, seededRandom } from './helpers/graphs.js';
import { randomVgg16Bn } from './helpers/vgg-weights.js';

const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const present = existsSync(ICD);
// The Vulkan loader reads these when Dawn first starts in this process, which is below.
process.env.VK_ICD_FILENAMES = ICD;
const fixtures = present ? await torchFixtures() : undefined;

interface Case {
  name: string;
  load: () => Promise<CnnModel>;
  layer: string;
  size: [number, number];
}

const torchvision = (arch: string, layer: string): Case => ({ name: `${arch} (torchvision, opset 17)`, load: () => loadModel(join(fixtures!.dir, `${arch}-opset17.onnx`)), layer, size: [81, 81] });

const cases: Case[] = [
  { name: 'darknet-tiny', load: () => loadModel('darknet-tiny'), layer: 'leaky_re_lu_6', size: [56, 56] },
  // 67 px: ceil-mode pool windows hang past the edge.
  { name: 'darknet-tiny', load: () => loadModel('darknet-tiny'), layer: 'conv2d_16', size: [67, 67] },
  { name: 'vgg16_bn (generated weights)', load: () => randomVgg16Bn(), layer: '42', size: [64, 64] },
  // A 3x3/2 padded max pool: overlapping windows.
  torchvision('resnet18', 'layer2'),
  torchvision('mobilenet_v2', 'features.7'),
  torchvision('efficientnet_b0', 'features.4'),
  torchvision('convnext_tiny', 'features.3'),
];

describe.skipIf(!present && !process.env.CI)('gradient programs on WebGPU (SwiftShader) against the CPU provider', () => {
  it.each(cases)('$name at $layer, $size.0 px', async ({ load, layer, size }) => {
    expect(present, `${ICD} (Debian's chromium package)`).toBe(true);
    const model = await load();
    const batch = randomImages(2, size, 5);
    const weights = randomWeights(2, channelsOf(model, layer, size));
    const results = [];
    const placements: PlacementReport[] = [];
    for (const device of ['cpu', 'webgpu'] as const) {
      const onPlacement = device === 'webgpu' ? (report: PlacementReport) => placements.push(report) : undefined;
      const engine = await createOrtEngine(model, { engine: 'ort', device, threads: 2, onPlacement });
      try {
        results.push(await engine.objectiveGradient(batch, layer, weights));
      } finally {
        await engine.dispose();
      }
    }
    const [cpu, gpu] = results;
    const largest = (values: ArrayLike<number>) => Math.max(...Array.from(values, Math.abs));
    const worst = (a: ArrayLike<number>, b: ArrayLike<number>) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i])));
    const objective = worst(gpu.objective, cpu.objective) / largest(cpu.objective);
    const gradient = worst(gpu.gradient, cpu.gradient) / largest(cpu.gradient);
    console.log(`${layer}: webgpu against cpu, objective ${objective.toExponential(1)}, gradient ${gradient.toExponential(1)} of the largest value`);
    expect(objective).toBeLessThan(1e-4);
    expect(gradient).toBeLessThan(1e-4);
    expect(placements).toHaveLength(1);
    const [placement] = placements;
    console.log(formatPlacement(placement));
    const imageBytes = 4 * 2 * 3 * size[0] * size[1];
    // In: the images and the channel weights; out: the objective and the input gradient.
    expect(placement.transfers).toEqual({ toDevice: imageBytes + 4 * weights.length, toHost: 4 * 2 + imageBytes });
    expect(Object.keys(placement.providers), formatPlacement(placement)).toEqual(['webgpu']);
    expect(placement.copies).toEqual({ nodes: 0, bytes: 0 });
  });
});

describe.skipIf(!present && !process.env.CI)("max-pool ties on WebGPU route as PyTorch's", () => {
  it.each([
    { name: '2x2/2, ceil', kernel: 2, stride: 2, pad: 0, ceil: true },
    { name: '3x3/2, padded (overlapping)', kernel: 3, stride: 2, pad: 1, ceil: false },
  ])('$name', async ({ kernel, stride, pad, ceil }) => {
    const size: Pair = [5, 7];
    const op = { kind: 'maxPool' as const, kernel: [kernel, kernel] as Pair, strides: [stride, stride] as Pair, pads: [pad, pad, pad, pad] as [number, number, number, number], ceil };
    const model: CnnModel = {
      name: 'pool',
      version: 'test',
      source: { format: 'onnx', path: 'pool.onnx' },
      graph: { inputChannels: 3, nodes: [{ name: 'pool', op, inputs: [INPUT] }], output: 'pool' },
      preprocessing: { inputSize: size, mean: [0, 0, 0], std: [1, 1, 1], resize: 'stretch' },
      weightsDigest: '0'.repeat(64),
    };
    // Three levels only: most windows hold their maximum twice or more.
    const random = seededRandom(9);
    const image = Float32Array.from({ length: 3 * size[0] * size[1] }, () => Math.floor(random() * 3) / 2);
    const weights = Float32Array.from([1, -2, 0.5]);
    const engine = await createOrtEngine(model, { engine: 'ort', device: 'webgpu', threads: 2 });
    let gpu: Float32Array;
    try {
      gpu = (await engine.objectiveGradient({ data: image, n: 1, height: size[0], width: size[1] }, 'pool', weights)).gradient;
    } finally {
      await engine.dispose();
    }
    const script = [
      'import json, sys, torch',
      'd = json.load(sys.stdin)',
      'x = torch.tensor(d["image"], dtype=torch.float64).reshape(1, 3, 5, 7).requires_grad_()',
      'y = torch.nn.functional.max_pool2d(x, d["kernel"], d["stride"], d["pad"], ceil_mode=d["ceil"])',
      '(y.mean((2, 3)) * torch.tensor(d["weights"], dtype=torch.float64)).sum().backward()',
      'print(json.dumps(x.grad.flatten().tolist()))',
    ].join('\n');
    const child = promisify(execFile)(PYTHON, ['-c', script]);
    child.child.stdin!.end(JSON.stringify({ image: Array.from(image), weights: Array.from(weights), kernel, stride, pad, ceil }));
    const torch = JSON.parse((await child).stdout) as number[];
    expect(torch).toHaveLength(gpu.length);
    expect(Math.max(...torch.map((v, i) => Math.abs(v - gpu[i])))).toBeLessThan(1e-7);
  });
});
