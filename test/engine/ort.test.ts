/**
 * ORT engine on synthetic graphs: forward outputs against the float64 reference
 * interpreter, gradients against reference finite differences at odd sizes, the
 * engine's own float32 finite differences, batching, and refusals.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../pipeline/engine/engine.js';
import { createEngine } from '../../pipeline/engine/create.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { FilterAtlasError } from '../../pipeline/errors.js';
import { branchy, darknetLike, mobilenetLike, randomImages, softmaxInPath, type TestModel } from './helpers/graphs.js';
import { batchIndependence, channelsOf, checkGradient, randomWeights, selfConsistency } from './helpers/gradcheck.js';
import { referenceForward } from './helpers/reference.js';

/**
 * Tolerances. Forward: float32 vs float64, relative to the layer's largest value.
 * Gradient: float32 engine vs float64 central differences (eps 1e-7, truncation and
 * rounding error ~1e-9), so the error is float32 rounding: 1e-4 relative is ~100x its expected size
 * and far below what a wrong rule gives (a missing mask or mis-placed pool index is O(1)).
 */
const FORWARD_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;

const cases: Array<[string, () => TestModel]> = [
  ['darknet-like', darknetLike],
  ['mobilenet-like', mobilenetLike],
  ['branchy', branchy],
];

describe.each(cases)('ort engine on %s', (_, make) => {
  const { model, size, gradientLayers } = make();
  let engine: Engine;
  beforeAll(async () => {
    engine = await createOrtEngine(model, { engine: 'ort', threads: 1 });
  });
  afterAll(() => engine.dispose());

  it('forward matches the reference interpreter at every node', async () => {
    const batch = randomImages(2, size);
    const layers = model.graph.nodes.map((n) => n.name);
    const outputs = await engine.forward(batch, layers);
    const reference = referenceForward(model, batch.data, batch.n, size, layers);
    for (const layer of layers) {
      const got = outputs.get(layer)!;
      const want = reference.get(layer)!;
      expect([got.n, got.channels, got.height, got.width], layer).toEqual([want.n, want.c, want.h, want.w]);
      const scale = Math.max(1, ...want.data.map(Math.abs));
      const error = Math.max(...got.data.map((v, i) => Math.abs(v - want.data[i])));
      expect(error / scale, layer).toBeLessThan(FORWARD_TOLERANCE);
    }
  });

  it.each(gradientLayers)('objective and gradient at %s match the reference', async (layer) => {
    const check = await checkGradient(engine, model, randomImages(2, size), layer, { pixels: 4 });
    expect(check.objective.maxError).toBeLessThan(FORWARD_TOLERANCE);
    expect(check.directional.maxRelativeError).toBeLessThan(GRADIENT_TOLERANCE);
    expect(check.pixels.maxRelativeError).toBeLessThan(GRADIENT_TOLERANCE);
  });

  it('gradient agrees with float32 finite differences of its own objective', async () => {
    const layer = gradientLayers[gradientLayers.length - 1];
    const weights = randomWeights(2, channelsOf(model, layer, size));
    // Float32 rounding ~1e-3 relative at the default h (see selfConsistency); a wrong rule is off by O(1).
    expect(await selfConsistency(engine, randomImages(2, size, 3), layer, weights)).toBeLessThan(1e-2);
  });
});

describe('ort engine behaviour', () => {
  const { model, size } = branchy();
  let engine: Engine;
  beforeAll(async () => {
    engine = await createOrtEngine(model, { engine: 'ort', threads: 1 });
  });
  afterAll(() => engine.dispose());

  it('reports onnxruntime, its provider and thread count', () => {
    expect(engine.info.name).toBe('ort');
    expect(engine.info.device).toMatch(/^onnxruntime \d+\.\d+\.\d+ (cpu|cuda), 1 thread$/);
  });

  it('gives each image of a batch the result it gets alone (dynamic batch size)', async () => {
    const differences = await batchIndependence(engine, model, 'avg_excl', size);
    expect(differences.objective).toBeLessThan(5e-6);
    expect(differences.gradient).toBeLessThan(1e-6);
  });

  it('answers forward under the names asked for, aliases included', async () => {
    const batch = randomImages(1, size);
    const outputs = await engine.forward(batch, ['cat', 'concat', 'stem']);
    expect([...outputs.keys()]).toEqual(['cat', 'concat', 'stem']);
    expect(outputs.get('cat')!.data).toEqual(outputs.get('concat')!.data);
    expect(outputs.get('cat')!.channels).toBe(12);
  });

  it('refuses channel weights of the wrong length', async () => {
    await expect(engine.objectiveGradient(randomImages(2, size), 'stem', new Float32Array(8))).rejects.toThrow(
      'channel weights for layer "stem": expected n x channels = 2 x 8 = 16 values, received 8 values',
    );
  });

  it('refuses a batch whose data does not match its shape', async () => {
    await expect(engine.forward({ data: new Float32Array(10), n: 1, height: 17, width: 13 }, ['stem'])).rejects.toThrow(FilterAtlasError);
  });

  it('refuses an image too small for the model', async () => {
    await expect(engine.forward(randomImages(1, [3, 3]), ['head_concat'])).rejects.toThrow(/model node "\w+" \((maxPool|avgPool|conv)\) at image size 3x3: expected an input large enough for a \dx\d window, received \dx\d/);
  });

  it('names an unknown layer and lists the real ones', async () => {
    await expect(engine.forward(randomImages(1, size), ['nope'])).rejects.toThrow(/layer "nope": expected a layer name, alias or # index \(0-\d+\) of the model, received no such layer. It has "stem", "stem_relu", .* lists all 19\./);
  });
});

describe('ort engine on a softmax in the path', () => {
  it('differentiates through a softmax over channels inside the feature path', async () => {
    const { model, size } = softmaxInPath();
    const engine = await createOrtEngine(model, { engine: 'ort', threads: 1 });
    try {
      const check = await checkGradient(engine, model, randomImages(2, size), 'conv2');
      expect(check.objective.maxError).toBeLessThan(1e-5);
      expect(check.directional.maxRelativeError).toBeLessThan(1e-3);
      expect(check.pixels.maxRelativeError).toBeLessThan(1e-3);
    } finally {
      await engine.dispose();
    }
  });

  it('is what createEngine returns for engine "ort"', async () => {
    const engine = await createEngine(softmaxInPath().model, { engine: 'ort', threads: 1 });
    expect(engine.info.name).toBe('ort');
    await engine.dispose();
  });

  it('refuses a thread count that is not a positive integer', async () => {
    await expect(createOrtEngine(softmaxInPath().model, { engine: 'ort', threads: 0 })).rejects.toThrow('engine option threads: expected a positive integer, received 0');
  });
});
