/**
 * The CPU emission's shortcuts give the bits of the plain forms they replace, on the real darknet-tiny
 * (the atlas pictures depend on every bit of the image gradient):
 *  - LeakyReLU's slope Clip(y * FLT_MAX, alpha, 1) against the Where(y > 0, dy, alpha dy) mask;
 *  - the pointwise head (conv2d_16, a 1x1 conv): its objective from the input's channel means and
 *    its gradient (weights . W) / (H * W), against the backward pass through the head's own conv fed
 *    the same d objective / d layer. The objective itself differs by float rounding only.
 */
import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { buildBackwardProgram, buildGradientProgram, CPU_EMISSION, type Program } from '../../pipeline/engine/ort/programs.js';
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

  it('at conv2d_16 (a 1x1 head), the gradient from the input means has the bits of the head conv backward pass', async () => {
    const size: Pair = [89, 89];
    const sized = sizes.at(size);
    const images = randomImages(n, size, 5);
    const [channels, ...spatial] = sized.shapes.get('conv2d_16')!.dims;
    const area = spatial[0] * spatial[1];
    const weights = oneHot(n, channels);
    const gradientProgram = buildGradientProgram(model, sized, 'conv2d_16');
    // The head's conv is not in the program: nothing computes conv2d_16's feature map or its gradient.
    const outputs = (onnx.ModelProto.decode(gradientProgram.bytes).graph?.node ?? []).flatMap((node) => node.output ?? []);
    expect(outputs.filter((name) => name.startsWith('conv2d_16'))).toEqual([]);
    expect(outputs).toContain('head/grad_input');
    const image = new ort.Tensor('float32', images.data, [n, 3, ...size]);
    const [objective, gradient] = await run(gradientProgram, { [gradientProgram.inputs.image]: image, [gradientProgram.inputs.weights!]: new ort.Tensor('float32', weights, [n, channels]) });

    // d objective / d layer as emitObjective makes it: weights[n, c] * float32(1 / area), broadcast over space.
    const perPixel = Math.fround(1 / area);
    const dLayer = new Float32Array(n * channels * area);
    for (let i = 0; i < n * channels; i++) dLayer.fill(weights[i] * perPixel, i * area, (i + 1) * area);
    const backward = buildBackwardProgram(model, sized, 'conv2d_16');
    const [activation, reference] = await run(backward, { [backward.inputs.image]: image, [backward.inputs.layerGradient!]: new ort.Tensor('float32', dLayer, [n, channels, ...spatial]) });
    expect(gradient.some((g) => g !== 0)).toBe(true);
    expect(Buffer.from(gradient.buffer).equals(Buffer.from(reference.buffer))).toBe(true);

    // The objective: the chosen channel's mean over space of the head's output, within float rounding.
    for (let i = 0; i < n; i++) {
      const c = (7 * i + 3) % channels;
      let sum = 0;
      for (let p = 0; p < area; p++) sum += activation[(i * channels + c) * area + p];
      expect(Math.abs(objective[i] - sum / area)).toBeLessThan(1e-5 * Math.max(1, Math.abs(sum / area)));
    }
  });
});
