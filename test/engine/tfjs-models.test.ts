/**
 * tfjs engine (wasm) on the real models at small odd sizes, against the ORT engine and finite
 * differences: darknet-tiny at an unpooled and a pooled layer (67 px: every ceil-mode pool has
 * a window hanging past the edge), mobilenet-v1-0.25 at a strided depthwise layer (asymmetric
 * pads, ReLU6), vgg16_bn with generated weights at the ReLU after conv 20 (conv+BN+ReLU fused).
 * The ORT engine itself is checked against float64 reference differences in ort-models.test.ts;
 * here darknet and mobilenet also get that check directly, every layer the cheaper float32 one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../pipeline/engine/engine.js';
import { createEngine } from '../../pipeline/engine/create.js';
import { createTfjsEngine } from '../../pipeline/engine/tfjs/engine.js';
import type { CnnModel, Pair } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { randomImages } from './helpers/graphs.js';
import { channelsOf, checkGradient, randomWeights, selfConsistency } from './helpers/gradcheck.js';
import { randomVgg16Bn } from './helpers/vgg-weights.js';

/**
 * Tolerances. tfjs vs ORT: two float32 engines with different kernels and summation orders
 * through 10-40 layers; 1e-4 relative to the largest value is ~10x the differences seen and far
 * below a wrong rule (O(1)). Reference differences: float32 vs float64 (as in ort-models.test.ts).
 * Self-consistency: float32 finite differences along the unit gradient, h = 1e-3 (1e-4 drowns
 * in float32 rounding of a mean over mixed-sign channels): 1e-2.
 */
const CROSS_ENGINE_TOLERANCE = 1e-4;
const REFERENCE_TOLERANCE = 1e-4;
const SELF_TOLERANCE = 1e-2;

interface Case {
  name: string;
  load: () => Promise<CnnModel>;
  size: Pair;
  layers: string[];
  /** Also check this layer against float64 reference differences (slow on VGG: ORT's test covers it). */
  reference?: string;
}

const cases: Case[] = [
  { name: 'darknet-tiny', load: () => loadModel('darknet-tiny'), size: [67, 67], layers: ['max_pooling2d_3', 'leaky_re_lu_5'], reference: 'max_pooling2d_3' },
  { name: 'mobilenet-v1-0.25', load: () => loadModel('mobilenet-v1-0.25'), size: [67, 67], layers: ['conv_dw_4_relu'], reference: 'conv_dw_4_relu' },
  { name: 'vgg16_bn (generated weights)', load: () => randomVgg16Bn(), size: [27, 27], layers: ['22'] },
];

const maxAbs = (values: ArrayLike<number>) => Array.from(values).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const relativeError = (got: ArrayLike<number>, want: ArrayLike<number>) =>
  maxAbs(Array.from(got, (v, i) => v - want[i])) / Math.max(maxAbs(want), 1e-12);

describe.each(cases)('tfjs engine on $name', ({ load, size, layers, reference }) => {
  let model: CnnModel;
  let tfjs: Engine;
  let ort: Engine;
  beforeAll(async () => {
    model = await load();
    tfjs = await createTfjsEngine(model, { engine: 'tfjs' }, { backend: 'wasm' });
    ort = await createEngine(model, { engine: 'ort' });
  });
  afterAll(async () => {
    await tfjs?.dispose();
    await ort?.dispose();
  });

  it.each(layers)('objective, gradient and forward at %s agree with ORT and finite differences', async (layer) => {
    const batch = randomImages(2, size, 42);
    const weights = randomWeights(2, channelsOf(model, layer, size));
    const mine = await tfjs.objectiveGradient(batch, layer, weights);
    const theirs = await ort.objectiveGradient(batch, layer, weights);
    expect(relativeError(mine.objective, theirs.objective)).toBeLessThan(CROSS_ENGINE_TOLERANCE);
    expect(relativeError(mine.gradient, theirs.gradient)).toBeLessThan(CROSS_ENGINE_TOLERANCE);

    const [a, b] = [(await tfjs.forward(batch, [layer])).get(layer)!, (await ort.forward(batch, [layer])).get(layer)!];
    expect([a.n, a.channels, a.height, a.width]).toEqual([b.n, b.channels, b.height, b.width]);
    expect(relativeError(a.data, b.data)).toBeLessThan(CROSS_ENGINE_TOLERANCE);

    const h = 1e-3;
    expect(await selfConsistency(tfjs, randomImages(1, size, 3), layer, weights.slice(0, weights.length / 2), h)).toBeLessThan(SELF_TOLERANCE);
    if (layer === reference) {
      const check = await checkGradient(tfjs, model, randomImages(1, size, 42), layer, { pixels: 1 });
      expect(check.objective.maxError).toBeLessThan(REFERENCE_TOLERANCE);
      expect(check.directional.maxRelativeError).toBeLessThan(REFERENCE_TOLERANCE);
      expect(check.pixels.maxRelativeError).toBeLessThan(REFERENCE_TOLERANCE);
    }
  });
});
