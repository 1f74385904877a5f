/**
 * tfjs engine (wasm backend) on the shared synthetic graphs: forward against the float64
 * reference interpreter at every node, objective and gradient against reference finite
 * differences and against the ORT engine, the hand-written conv input gradient against
 * tfjs's stock one, tensor hygiene, and refusals.
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../pipeline/engine/engine.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { createTfjsEngine } from '../../pipeline/engine/tfjs/engine.js';
import { FilterAtlasError } from '../../pipeline/errors.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { branchy, darknetLike, mobilenetLike, randomImages, type TestModel } from './helpers/graphs.js';
import { batchIndependence, channelsOf, checkGradient, randomWeights } from './helpers/gradcheck.js';
import { referenceForward } from './helpers/reference.js';

/**
 * Tolerances (float32 engine vs float64 oracle). Forward: relative to the layer's largest
 * value. Gradient vs reference central differences: float32 rounding only, 1e-4 relative is
 * ~100x its expected size and far below a wrong rule (O(1)). tfjs vs ORT: both float32 with
 * different summation orders; 1e-4 relative to the largest gradient entry.
 */
const FORWARD_TOLERANCE = 1e-5;
const GRADIENT_TOLERANCE = 1e-4;
const CROSS_ENGINE_TOLERANCE = 1e-4;

const cases: Array<[string, () => TestModel]> = [
  ['darknet-like', darknetLike],
  ['mobilenet-like', mobilenetLike],
  ['branchy', branchy],
];

const maxAbs = (values: ArrayLike<number>) => Array.from(values).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe.each(cases)('tfjs engine on %s', (_, make) => {
  const { model, size, gradientLayers } = make();
  let engine: Engine;
  let ort: Engine;
  beforeAll(async () => {
    engine = await createTfjsEngine(model, { engine: 'tfjs' }, { backend: 'wasm' });
    ort = await createOrtEngine(model, { engine: 'ort', threads: 1 });
  });
  afterAll(async () => {
    await engine.dispose();
    await ort.dispose();
  });

  it('forward matches the reference interpreter at every node, asked together and alone', async () => {
    const batch = randomImages(2, size);
    const layers = model.graph.nodes.map((n) => n.name);
    const outputs = await engine.forward(batch, layers);
    const reference = referenceForward(model, batch.data, batch.n, size, layers);
    for (const layer of layers) {
      const got = outputs.get(layer)!;
      const want = reference.get(layer)!;
      expect([got.n, got.channels, got.height, got.width], layer).toEqual([want.n, want.c, want.h, want.w]);
      const error = maxAbs(got.data.map((v, i) => v - want.data[i]));
      expect(error / Math.max(1, maxAbs(want.data)), layer).toBeLessThan(FORWARD_TOLERANCE);
      // Alone, the layer's conv, BN and activation run fused: the same values must come out.
      const alone = (await engine.forward(batch, [layer])).get(layer)!;
      expect(maxAbs(alone.data.map((v, i) => v - got.data[i])) / Math.max(1, maxAbs(want.data)), `${layer} alone`).toBeLessThan(FORWARD_TOLERANCE);
    }
  });

  it.each(gradientLayers)('objective and gradient at %s match reference finite differences and ORT', async (layer) => {
    const batch = randomImages(2, size);
    const check = await checkGradient(engine, model, batch, layer, { pixels: 3 });
    expect(check.objective.maxError).toBeLessThan(FORWARD_TOLERANCE);
    expect(check.directional.maxRelativeError).toBeLessThan(GRADIENT_TOLERANCE);
    expect(check.pixels.maxRelativeError).toBeLessThan(GRADIENT_TOLERANCE);

    const weights = randomWeights(2, channelsOf(model, layer, size));
    const mine = await engine.objectiveGradient(batch, layer, weights);
    const theirs = await ort.objectiveGradient(batch, layer, weights);
    expect(maxAbs(mine.objective.map((v, i) => v - theirs.objective[i])) / Math.max(1, maxAbs(theirs.objective))).toBeLessThan(FORWARD_TOLERANCE);
    expect(maxAbs(mine.gradient.map((v, i) => v - theirs.gradient[i])) / maxAbs(theirs.gradient)).toBeLessThan(CROSS_ENGINE_TOLERANCE);
  });
});

describe('tfjs hand-written conv input gradient', () => {
  // The engine's conv gradient (flipped kernel on zero-inserted dy) against tfjs's stock
  // Conv2DBackpropInput, for strides, asymmetric pads and sizes where the last rows are never
  // reached by a window (stock tfjs has no dilated conv gradient: the dilated conv of the
  // branchy graph is checked against finite differences above).
  const convCases = [
    { name: 'stride 2, odd size, asymmetric pads', size: [9, 8], kernel: 3, stride: 2, pads: [0, 1, 1, 0], dilation: 1 },
    { name: 'stride 3, unused trailing rows', size: [11, 10], kernel: 2, stride: 3, pads: [0, 0, 0, 0], dilation: 1 },
    { name: 'pads larger than the kernel reaches', size: [7, 9], kernel: 3, stride: 1, pads: [3, 1, 2, 3], dilation: 1 },
  ] as const;
  it.each(convCases)('$name', async ({ size, kernel, stride, pads, dilation }) => {
    const { makeConvUnit, applyConv } = await import('../../pipeline/engine/tfjs/conv.js');
    const { loadTfRuntime } = await import('../../pipeline/engine/tfjs/runtime.js');
    const { tf: rt } = await loadTfRuntime('wasm');
    const [cin, cout] = [3, 4];
    const weight = { shape: [cout, cin, kernel, kernel], data: Float32Array.from({ length: cout * cin * kernel * kernel }, (_, i) => Math.sin(i * 1.7)) };
    const op = { kind: 'conv' as const, weight, strides: [stride, stride] as [number, number], pads: [...pads] as [number, number, number, number], dilations: [dilation, dilation] as [number, number], group: 1 };
    const unit = makeConvUnit(rt, op, { weight, bias: new Float32Array(cout) }, cin);
    const before = rt.memory().numTensors;
    const [mine, stock] = rt.tidy(() => {
      const x = rt.tensor4d(Float32Array.from({ length: 2 * size[0] * size[1] * cin }, (_, i) => Math.cos(i * 0.37)), [2, size[0], size[1], cin]);
      const filter = rt.transpose(rt.tensor4d(weight.data, [cout, cin, kernel, kernel]), [2, 3, 1, 0]) as tf.Tensor4D;
      const probe = (y: tf.Tensor) => rt.sum(rt.mul(y, rt.sin(rt.range(0, y.size).reshape(y.shape))));
      const a = rt.grad((v: tf.Tensor) => probe(applyConv(rt, v as tf.Tensor4D, unit, { kind: 'linear' })))(x);
      const explicit: [[number, number], [number, number], [number, number], [number, number]] = [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]];
      const b = rt.grad((v: tf.Tensor) => probe(rt.conv2d(v as tf.Tensor4D, filter, stride, explicit, 'NHWC', dilation)))(x);
      return [a, b];
    });
    const [a, b] = [await mine.data(), await stock.data()];
    expect(maxAbs(a.map((v, i) => v - b[i])) / maxAbs(b)).toBeLessThan(1e-5);
    rt.dispose([mine, stock]);
    expect(rt.memory().numTensors).toBe(before);
    for (const k of unit.kernels) rt.dispose([k.filter, k.bias, ...k.backward]);
  });
});

describe('tfjs max pooling gradient with tied maxima', () => {
  // Images of 0s and 1s tie inside most windows: the gradient must go to the first maximum of
  // each window only (as torch, TensorFlow and ORT's MaxPool indices do), overlapping windows adding up.
  it.each([
    ['2x2/2 ceil', { kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil: true }],
    ['3x3/2 padded, overlapping', { kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil: false }],
  ] as const)('%s', async (_, pool) => {
    const model: CnnModel = {
      name: 'ties',
      version: 'test',
      source: { format: 'onnx', path: 'ties.onnx' },
      graph: { inputChannels: 3, nodes: [{ name: 'pool', op: { kind: 'maxPool', ...pool, kernel: [...pool.kernel], strides: [...pool.strides], pads: [...pool.pads] }, inputs: ['input'] }], output: 'pool' },
      preprocessing: { inputSize: [9, 7], mean: [0, 0, 0], std: [1, 1, 1], resize: 'stretch' },
      weightsDigest: '0'.repeat(64),
    };
    const images = randomImages(2, [9, 7], 13);
    const batch = { ...images, data: images.data.map((v) => (v > 0.6 ? 1 : 0)) };
    const weights = randomWeights(2, 3);
    const [tfjs, ort] = [await createTfjsEngine(model, { engine: 'tfjs' }, { backend: 'wasm' }), await createOrtEngine(model, { engine: 'ort', threads: 1 })];
    try {
      const [a, b] = [await tfjs.objectiveGradient(batch, 'pool', weights), await ort.objectiveGradient(batch, 'pool', weights)];
      expect(maxAbs(a.gradient.map((v, i) => v - b.gradient[i]))).toBeLessThan(1e-6);
    } finally {
      await tfjs.dispose();
      await ort.dispose();
    }
  });
});

describe('tfjs engine behaviour', () => {
  const { model, size } = branchy();
  let engine: Engine;
  beforeAll(async () => {
    engine = await createTfjsEngine(model, { engine: 'tfjs' }, { backend: 'wasm' });
  });
  afterAll(() => engine.dispose());

  it('reports tfjs, its version and the wasm backend', () => {
    expect(engine.info.name).toBe('tfjs');
    expect(engine.info.device).toMatch(/^tfjs 4\.22\.0 wasm \((SIMD, )?1 thread\)$/);
  });

  it('leaves no tensors behind (tf.memory().numTensors stays flat)', async () => {
    const batch = randomImages(2, size, 5);
    const weights = randomWeights(2, channelsOf(model, 'avg_incl', size));
    // The first calls create the cached weight tensors; later calls must not add any.
    await engine.objectiveGradient(batch, 'avg_incl', weights);
    await engine.forward(batch, ['cat', 'head_concat']);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      await engine.objectiveGradient(batch, 'avg_incl', weights);
      await engine.forward(batch, ['cat', 'head_concat']);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('gives each image of a batch the result it gets alone', async () => {
    const differences = await batchIndependence(engine, model, 'pool_overlap', size);
    expect(differences.objective).toBeLessThan(5e-6);
    expect(differences.gradient).toBeLessThan(1e-6);
  });

  it('answers forward under the names asked for, aliases included', async () => {
    const outputs = await engine.forward(randomImages(1, size), ['cat', 'concat', 'stem']);
    expect([...outputs.keys()]).toEqual(['cat', 'concat', 'stem']);
    expect(outputs.get('cat')!.data).toEqual(outputs.get('concat')!.data);
    expect(outputs.get('cat')!.channels).toBe(12);
  });

  it('refuses channel weights of the wrong length', async () => {
    await expect(engine.objectiveGradient(randomImages(2, size), 'stem', new Float32Array(8))).rejects.toThrow(
      'tfjs engine, channel weights for layer "stem": expected n x channels = 2 x 8 = 16 values, received 8 values',
    );
  });

  it('refuses an image too small for the layer', async () => {
    await expect(engine.forward(randomImages(1, [3, 3]), ['head_concat'])).rejects.toThrow(/model node "\w+" \((maxPool|avgPool|conv)\) at image size 3x3: expected an input large enough for a \dx\d window, received \dx\d/);
  });

  it('refuses a batch whose data does not match its shape', async () => {
    await expect(engine.forward({ data: new Float32Array(10), n: 1, height: 17, width: 13 }, ['stem'])).rejects.toThrow(
      'tfjs engine, image batch: expected 663 floats (n 1 x 3 x 17 x 13, RGB NCHW), received 10 floats',
    );
  });

  it('names an unknown layer and lists the real ones', async () => {
    await expect(engine.forward(randomImages(1, size), ['nope'])).rejects.toThrow(/layer "nope": expected a layer name, alias or # index \(0-\d+\) of the model, received no such layer. It has "stem", "stem_relu", .* lists all 19\./);
  });

  it('names the op and node it does not support', async () => {
    const broken = structuredClone(model);
    // A future op kind that a loader might produce before the engine learns it.
    (broken.graph.nodes[1].op as { kind: string }).kind = 'lrn';
    const other = await createTfjsEngine(broken, { engine: 'tfjs' }, { backend: 'wasm' });
    try {
      await expect(other.forward(randomImages(1, size), ['stem_relu'])).rejects.toThrow(FilterAtlasError);
      await expect(other.forward(randomImages(1, size), ['stem_relu'])).rejects.toThrow(/model node "stem_relu" \(lrn\) at image size 17x13: expected an op of the model graph .*received op "lrn"/);
    } finally {
      await other.dispose();
    }
  });
});
