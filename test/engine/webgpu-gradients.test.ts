/**
 * The engine's gradient programs on ONNX Runtime's WebGPU provider, on Debian chromium's SwiftShader
 * Vulkan driver (a software adapter; no GPU needed): objective and input gradient equal the CPU
 * provider's within 1e-4 of the largest value, for darknet-tiny at two layers, VGG16-BN (generated
 * weights) at layer 42 at 64 px, and four torchvision classifiers from the operator tests (max-pool:
 * resnet18; depthwise convs: mobilenet_v2; squeeze-excitation: efficientnet_b0; LayerNorm:
 * convnext_tiny). Outside CI a machine without chromium skips this; CI installs chromium.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { torchFixtures } from '../torch/fixtures.js';
import { channelsOf, randomWeights } from './helpers/gradcheck.js';
import { randomImages } from './helpers/graphs.js';
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
  { name: 'darknet-tiny', load: () => loadModel('darknet-tiny'), layer: 'conv2d_16', size: [56, 56] },
  { name: 'vgg16_bn (generated weights)', load: () => randomVgg16Bn(), layer: '42', size: [64, 64] },
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
    for (const device of ['cpu', 'webgpu'] as const) {
      const engine = await createOrtEngine(model, { engine: 'ort', device, threads: 2 });
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
  });
});
