/**
 * The CPU emission's shortcuts give the bits of the plain forms they replace, on the real darknet-tiny
 * (the atlas pictures depend on every bit of the image gradient):
 *  - LeakyReLU's slope Clip(y * FLT_MAX, alpha, 1) against the Where(y > 0, dy, alpha dy) mask;
 *  - the pointwise head (conv2d_16, a 1x1 conv): its objective from the input's channel means and
 *    its gradient (weights . W) / (H * W), against the programs that run the head's conv (gradient,
 *    attribution, attribution by rows). The objective itself differs by float rounding only.
 */
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildAttributionProgram, buildGradientProgram, buildRowAttributionProgram, CPU_EMISSION, type Program } from '../../pipeline/engine/ort/programs.js';
import type { Pair } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { SizedGraphs } from '../../pipeline/model/sized.js';
import { randomImages } from './helpers/graphs.js';

const { onnx } = onnxProto;
type Feeds = Record<string, ort.Tensor>;

async function run(program: Program, feeds: Feeds): Promise<Float32Array[]> {
  const session = await ort.InferenceSession.create(program.bytes, { executionProviders: ['cpu'], intraOpNumThreads: 2, logSeverityLevel: 3 });
  try {
    const results = await session.run(feeds);
    return program.outputs.map((name) => results[name].data as Float32Array);
  } finally {
    await session.release();
  }
}

/** One-hot channel weights: image i maximises channel (7 i + 3) mod channels. */
function oneHot(n: number, channels: number): Float32Array {
  const weights = new Float32Array(n * channels);
  for (let i = 0; i < n; i++) weights[i * channels + ((7 * i + 3) % channels)] = 1;
  return weights;
}

describe('the CPU emission of darknet-tiny', async () => {
  const model = await loadModel('darknet-tiny');
  const sizes = new SizedGraphs(model);
  const n = 3;

  it.each([
    [[56, 56], 'leaky_re_lu_2'],
    [[67, 67], 'leaky_re_lu_10'],
    [[89, 89], 'conv2d_16'],
  ] as const)('at %j, %s: the scaled LeakyReLU slope gives the mask form bit for bit', async (size, layer) => {
    const sized = sizes.at(size as unknown as Pair);
    const images = randomImages(n, size as unknown as Pair, 11);
    const channels = sized.shapes.get(layer)!.dims[0];
    const scaled = buildGradientProgram(model, sized, layer);
    const masked = buildGradientProgram(model, sized, layer, 'N', { ...CPU_EMISSION, leakyReluSlope: 'mask' });
    const feedsFor = (program: Program): Feeds => ({
      [program.inputs.image]: new ort.Tensor('float32', images.data, [n, 3, ...size]),
      [program.inputs.weights!]: new ort.Tensor('float32', oneHot(n, channels), [n, channels]),
    });
    const [objective, gradient] = await run(scaled, feedsFor(scaled));
    const [maskObjective, maskGradient] = await run(masked, feedsFor(masked));
    expect(gradient.some((g) => g !== 0)).toBe(true);
    expect(Buffer.from(gradient.buffer).equals(Buffer.from(maskGradient.buffer))).toBe(true);
    expect(Buffer.from(objective.buffer).equals(Buffer.from(maskObjective.buffer))).toBe(true);
  });

  it('at conv2d_16 (a 1x1 head), gradient and attributions from the input means have the bits of the plain programs', async () => {
    const size: Pair = [89, 89];
    const sized = sizes.at(size);
    const images = randomImages(n, size, 5);
    const channels = sized.shapes.get('conv2d_16')!.dims[0];
    const weights = new ort.Tensor('float32', oneHot(n, channels), [n, channels]);
    const image = new ort.Tensor('float32', images.data, [n, 3, ...size]);
    const plain = { ...CPU_EMISSION, pointwiseHeads: false };
    const headProgram = buildGradientProgram(model, sized, 'conv2d_16');
    // The head's conv is not in the program: nothing computes conv2d_16's feature map or its gradient.
    const outputs = (onnx.ModelProto.decode(headProgram.bytes).graph?.node ?? []).flatMap((node) => node.output ?? []);
    expect(outputs.filter((name) => name.startsWith('conv2d_16'))).toEqual([]);
    expect(outputs).toContain('head/grad_input');

    const pairs: Array<[string, Program, Program, Feeds]> = [];
    const plainGradient = buildGradientProgram(model, sized, 'conv2d_16', 'N', plain);
    pairs.push(['gradient', headProgram, plainGradient, { [headProgram.inputs.image]: image, [headProgram.inputs.weights!]: weights }]);
    for (const from of ['leaky_re_lu_10', 'leaky_re_lu_15']) {
      const attribution = buildAttributionProgram(model, sized, 'conv2d_16', from);
      pairs.push([`attribution from ${from}`, attribution, buildAttributionProgram(model, sized, 'conv2d_16', from, 'N', plain), { [attribution.inputs.image]: image, [attribution.inputs.weights!]: weights }]);
      // Rows: image r % n for row r, 2n rows.
      const rows = buildRowAttributionProgram(model, sized, 'conv2d_16', from);
      const rowWeights = new ort.Tensor('float32', oneHot(2 * n, channels), [2 * n, channels]);
      const rowImages = new ort.Tensor('int64', BigInt64Array.from({ length: 2 * n }, (_, r) => BigInt(r % n)), [2 * n]);
      pairs.push([`rows from ${from}`, rows, buildRowAttributionProgram(model, sized, 'conv2d_16', from, plain), { [rows.inputs.image]: image, [rows.inputs.weights!]: rowWeights, [rows.inputs.rowImages!]: rowImages }]);
    }
    for (const [what, head, reference, feeds] of pairs) {
      expect(reference.bytes.length, what).not.toBe(head.bytes.length);
      const [objective, values] = await run(head, feeds);
      const [referenceObjective, referenceValues] = await run(reference, feeds);
      expect(values.some((v) => v !== 0), what).toBe(true);
      expect(Buffer.from(values.buffer).equals(Buffer.from(referenceValues.buffer)), what).toBe(true);
      // The objective (the class logit's mean over space) only within float rounding: W . mean(x) + b, not mean(W . x + b).
      objective.forEach((v, i) => expect(Math.abs(v - referenceObjective[i]), what).toBeLessThan(1e-5 * Math.max(1, Math.abs(referenceObjective[i]))));
    }
  });
});
