/**
 * The engines' two gradients beyond objectiveGradient, on both engines:
 *  - backward (a vector-Jacobian product for objectives computed outside the engine): with the
 *    channel-mean objective's own layer gradient, it must give objectiveGradient's image gradient;
 *  - attribution to an earlier layer (gradient x activation summed over space): each channel's value
 *    is the derivative of the objective when that channel of the earlier layer is scaled by (1 + t),
 *    checked by central differences on a copy of the model with the scale inserted.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { Engine } from '../../pipeline/engine/engine.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { createTfjsEngine } from '../../pipeline/engine/tfjs/engine.js';
import type { CnnModel, GraphNode } from '../../pipeline/model/graph.js';
import { findNode } from '../../pipeline/model/layers.js';
import { graphAtSize } from '../../pipeline/model/sized.js';
import { branchy, mobilenetLike, randomImages } from './helpers/graphs.js';
import { channelsOf, randomWeights } from './helpers/gradcheck.js';

const engines = {
  ort: (model: CnnModel) => createOrtEngine(model, { engine: 'ort', threads: 1 }),
  tfjs: (model: CnnModel) => createTfjsEngine(model, { engine: 'tfjs' }, { backend: 'wasm' }),
};

/** The model with channel `channel` of node `from` multiplied by `scale` for every reader. */
function scaledChannel(model: CnnModel, from: string, channel: number, channels: number, scale: number): CnnModel {
  const factors = new Float32Array(channels).fill(1);
  factors[channel] = scale;
  const constant: GraphNode = { name: 'scale:factors', op: { kind: 'constant', value: { shape: [channels, 1, 1], data: factors } }, inputs: [] };
  const scaled: GraphNode = { name: 'scale:applied', op: { kind: 'mul' }, inputs: [from, constant.name] };
  const nodes: GraphNode[] = [];
  for (const node of model.graph.nodes) {
    nodes.push({ ...node, inputs: node.inputs.map((i) => (i === from ? scaled.name : i)) });
    if (node.name === from) nodes.push(constant, scaled);
  }
  return { ...model, graph: { ...model.graph, nodes } };
}

describe.each(Object.entries(engines))('%s engine: backward and attribution', (_, create) => {
  const cases = [
    { make: branchy, layer: 'head_concat', from: 'cat' },
    { make: mobilenetLike, layer: 'relu4', from: 'relu6_2' },
  ];
  const opened: Engine[] = [];
  afterAll(async () => {
    for (const engine of opened) await engine.dispose();
  });

  it.each(cases)('backward with the objective layer gradient gives objectiveGradient ($layer)', async ({ make, layer }) => {
    const { model, size } = make();
    const engine = await create(model);
    opened.push(engine);
    const batch = randomImages(2, size, 31);
    const channels = channelsOf(model, layer, size);
    const weights = randomWeights(2, channels, 9);
    const { gradient: expected } = await engine.objectiveGradient(batch, layer, weights);
    const [, ...spatial] = graphAtSize(model, size).shapes.get(layer)!.dims;
    const area = spatial.reduce((a, b) => a * b, 1);
    const dLayer = new Float32Array(2 * channels * area);
    for (let i = 0; i < dLayer.length; i++) dLayer[i] = weights[Math.floor(i / area)] / area;
    const { activation, gradient } = await engine.backward(batch, layer, dLayer);
    const forward = (await engine.forward(batch, [layer])).get(layer)!;
    expect(Array.from(activation.data)).toEqual(Array.from(forward.data));
    const scale = Math.max(...Array.from(expected, Math.abs));
    expect(Math.max(...Array.from(gradient, (g, i) => Math.abs(g - expected[i]))) / scale).toBeLessThan(1e-5);
  });

  it.each(cases)('attribution of $layer to $from is the derivative of scaling each channel', async ({ make, layer, from }) => {
    const { model, size } = make();
    const engine = await create(model);
    opened.push(engine);
    const batch = randomImages(1, size, 41);
    const channels = channelsOf(model, layer, size);
    const weights = randomWeights(1, channels, 13);
    const fromChannels = channelsOf(model, from, size);
    const { objective, attribution } = await engine.attribution(batch, layer, weights, from);
    expect(attribution).toHaveLength(fromChannels);
    expect(objective[0]).toBeCloseTo((await engine.objectiveGradient(batch, layer, weights)).objective[0], 5);
    const h = 1e-2;
    for (const channel of [0, fromChannels - 1]) {
      const at = async (scale: number) => {
        const scaled = await createOrtEngine(scaledChannel(model, findNode(model.graph, from).name, channel, fromChannels, scale), { engine: 'ort', threads: 1 });
        try {
          return (await scaled.objectiveGradient(batch, layer, weights)).objective[0];
        } finally {
          await scaled.dispose();
        }
      };
      // Piecewise linear after `from` except where a kink lies within h: a small h, float32-sized tolerance.
      const derivative = ((await at(1 + h)) - (await at(1 - h))) / (2 * h);
      expect(attribution[channel], `channel ${channel}`).toBeCloseTo(derivative, 3);
    }
  });

  // Beyond the cases above: later nodes that read values before `from` (a branch around it) and a
  // `from` that is itself read twice (the residual add reads the stem and two convs of it).
  const rowCases = [...cases, { make: branchy, layer: 'cat', from: 'bn_free' }, { make: branchy, layer: 'residual', from: 'stem_relu' }];
  it.each(rowCases)('rowAttribution of $layer to $from equals attribution of a batch with one image per row', async ({ make, layer, from }) => {
    const { model, size } = make();
    const engine = await create(model);
    opened.push(engine);
    const images = randomImages(3, size, 57);
    const channels = channelsOf(model, layer, size);
    // Several rows per image, images out of order, one image twice in a row, one image with no row.
    const rowImages = Int32Array.from([2, 0, 2, 2, 0]);
    const weights = randomWeights(rowImages.length, channels, 21);
    const shared = await engine.rowAttribution(images, layer, weights, from, rowImages);
    const plane = 3 * size[0] * size[1];
    const data = new Float32Array(rowImages.length * plane);
    rowImages.forEach((image, row) => data.set(images.data.subarray(image * plane, (image + 1) * plane), row * plane));
    const perRow = await engine.attribution({ data, n: rowImages.length, height: size[0], width: size[1] }, layer, weights, from);
    expect(shared.objective).toHaveLength(rowImages.length);
    expect(shared.attribution).toHaveLength(perRow.attribution.length);
    const relative = (a: Float32Array, b: Float32Array) => Math.max(...Array.from(a, (v, i) => Math.abs(v - b[i]))) / Math.max(...Array.from(b, Math.abs));
    expect(relative(shared.objective, perRow.objective)).toBeLessThan(1e-5);
    expect(relative(shared.attribution, perRow.attribution)).toBeLessThan(1e-5);
  });

  it('refuses row images outside the batch', async () => {
    const { model, size } = branchy();
    const engine = await create(model);
    opened.push(engine);
    const weights = randomWeights(2, channelsOf(model, 'head_concat', size), 1);
    await expect(engine.rowAttribution(randomImages(2, size), 'head_concat', weights, 'cat', Int32Array.from([0, 2]))).rejects.toThrow(
      'row images of an attribution: expected at least one row, each an image index 0..1 of the batch, received 2 at row 1',
    );
  });

  it('refuses an attribution to a layer that is not on the path', async () => {
    const { model, size } = branchy();
    const engine = await create(model);
    opened.push(engine);
    const weights = randomWeights(1, channelsOf(model, 'cat', size), 1);
    await expect(engine.attribution(randomImages(1, size), 'cat', weights, 'pool_floor')).rejects.toThrow(
      'attribution of layer "concat" to "pool_floor": expected a layer that concat depends on, received pool_floor, which it does not read',
    );
  });
});

describe('rowAttribution: onnxruntime against the tfjs oracle', () => {
  it.each([
    { make: branchy, layer: 'head_concat', from: 'cat' },
    { make: mobilenetLike, layer: 'relu4', from: 'relu6_2' },
  ])('$layer to $from', async ({ make, layer, from }) => {
    const { model, size } = make();
    const [ort, tfjs] = [await engines.ort(model), await engines.tfjs(model)];
    try {
      const images = randomImages(2, size, 71);
      const rowImages = Int32Array.from([1, 1, 0, 1]);
      const weights = randomWeights(rowImages.length, channelsOf(model, layer, size), 5);
      const a = await ort.rowAttribution(images, layer, weights, from, rowImages);
      const b = await tfjs.rowAttribution(images, layer, weights, from, rowImages);
      const scale = Math.max(...Array.from(b.attribution, Math.abs));
      expect(Math.max(...Array.from(a.attribution, (v, i) => Math.abs(v - b.attribution[i]))) / scale).toBeLessThan(1e-4);
      for (let r = 0; r < rowImages.length; r++) expect(a.objective[r]).toBeCloseTo(b.objective[r], 4);
    } finally {
      await ort.dispose();
      await tfjs.dispose();
    }
  });
});
