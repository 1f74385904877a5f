/**
 * What the onnxruntime engine emits for GPU providers (programs.ts, GPU_EMISSION), checked on the CPU
 * provider, so no GPU or software adapter is needed:
 *  - the CPU emission is byte for byte the one recorded (its changes are proven bit-identical in
 *    test/engine/cpu-emission-bits.test.ts);
 *  - the GPU emission's max-pool gradient (rules/max-pool-windows.ts) equals the CPU emission's on
 *    every pool shape of the synthetic graphs (ceil and floor, padded, overlapping), on noise and on
 *    flat images full of ties, and routes ties to the first maximum in row-major window order, as
 *    MaxUnpool and PyTorch do;
 *  - its programs hold no op the WebGPU provider lacks (n-ary sums as Adds, LeakyReLU's slope by a mask) and no shape
 *    arithmetic.
 * test/engine/webgpu-gradients.test.ts runs the same programs on the WebGPU provider.
 */
import { createHash } from 'node:crypto';
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { describe, expect, it } from 'vitest';
import { formatPlacement } from '../../pipeline/engine/ort/placement.js';
import {
  BATCH_DIM,
  buildAttributionProgram,
  buildBackwardProgram,
  buildForwardProgram,
  buildGradientProgram,
  buildRowAttributionProgram,
  CPU_EMISSION,
  GPU_EMISSION,
  type EmitOptions,
  type Program,
} from '../../pipeline/engine/ort/programs.js';
import { INPUT, type CnnModel, type Op, type Pair } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { SizedGraphs } from '../../pipeline/model/sized.js';
import { channelsOf, randomWeights } from './helpers/gradcheck.js';
import { branchy, darknetLike, randomImages, seededRandom } from './helpers/graphs.js';

const { onnx } = onnxProto;
const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** Runs a gradient program on the CPU provider: the input gradient. */
async function gradientOn(program: Program, images: { data: Float32Array; n: number; height: number; width: number }, weights: Float32Array): Promise<Float32Array> {
  const session = await ort.InferenceSession.create(program.bytes, { executionProviders: ['cpu'], logSeverityLevel: 3 });
  try {
    const results = await session.run({
      [program.inputs.image]: new ort.Tensor('float32', images.data, [images.n, 3, images.height, images.width]),
      [program.inputs.weights!]: new ort.Tensor('float32', weights, [images.n, weights.length / images.n]),
    });
    return results[program.outputs[1]].data as Float32Array;
  } finally {
    await session.release();
  }
}

const opTypes = (program: Program): string[] => (onnx.ModelProto.decode(program.bytes).graph?.node ?? []).map((n) => n.opType ?? '');

describe('the CPU emission', () => {
  // Recorded on main before the GPU emission existed (commit fc35740), and again when LeakyReLU's slope became
  // Clip(y * FLT_MAX, alpha, 1) and a 1x1 head's objective moved to its input's means (2026-12-07): those programs
  // give the old bits (test/engine/cpu-emission-bits.test.ts). A change here may change the atlas pictures: prove
  // it does not, or bump the viz code version.
  const recorded: Record<string, string> = {
    'darknet-like gradient': 'dc02f85549c4e3c5',
    'darknet-like backward': '26dcef687c307d44',
    'darknet-like attribution': '5831dcafdd62fb00',
    'darknet-like rows': '4c404b3889e69c4a',
    'branchy gradient': '12326b8f8679d90d',
    'branchy backward': '58a070900da7e4e1',
    'branchy attribution': 'db5cef5b1c6a9797',
    'branchy rows': '1b8f91747ca18b26',
    'darknet-tiny gradient': 'a264be37586338c3',
    'darknet-tiny backward': '5733599769f45120',
    'darknet-tiny attribution': 'e314ab56a8679d8c',
    'darknet-tiny rows': '4403b75e78a182dc',
    'darknet-tiny forward': '708777bfd146b3ea',
    'branchy forward': 'fdf9ae8cba9a0f13',
  };

  it('is byte-identical to the one the atlas pictures were made with', async () => {
    const tiny = await loadModel('darknet-tiny');
    const hashes: Record<string, string> = {};
    for (const [name, model, size, layer, from] of [
      ['darknet-like', darknetLike().model, [13, 11], 'conv3', 'leaky1'],
      ['branchy', branchy().model, [17, 13], 'head_concat', 'stem_relu'],
      ['darknet-tiny', tiny, [67, 67], 'leaky_re_lu_10', 'leaky_re_lu_2'],
    ] as const) {
      const sized = new SizedGraphs(model).at(size as Pair);
      hashes[`${name} gradient`] = sha(buildGradientProgram(model, sized, layer).bytes);
      hashes[`${name} backward`] = sha(buildBackwardProgram(model, sized, layer).bytes);
      hashes[`${name} attribution`] = sha(buildAttributionProgram(model, sized, layer, from).bytes);
      hashes[`${name} rows`] = sha(buildRowAttributionProgram(model, sized, layer, from).bytes);
      // The default is the CPU emission, which the engine picks for the CPU provider.
      expect(sha(buildGradientProgram(model, sized, layer, BATCH_DIM, CPU_EMISSION).bytes)).toBe(hashes[`${name} gradient`]);
    }
    hashes['darknet-tiny forward'] = sha(buildForwardProgram(tiny, new SizedGraphs(tiny).at([67, 67]), ['leaky_re_lu_10', 'conv2d_16']).bytes);
    const b = branchy().model;
    hashes['branchy forward'] = sha(buildForwardProgram(b, new SizedGraphs(b).at([17, 13]), ['head_concat', 'residual']).bytes);
    expect(hashes).toEqual(recorded);
  });
});

describe('the GPU emission', () => {
  const flat = (n: number, size: Pair) => ({ data: new Float32Array(n * 3 * size[0] * size[1]).fill(0.5), n, height: size[0], width: size[1] });

  it.each([
    ['darknet-like', darknetLike],
    ['branchy', branchy],
  ])('gives the CPU emission’s gradients on %s (residual sums as Adds), at every layer, on noise and on flat images', async (_, make) => {
    const { model, size, gradientLayers } = make();
    const sized = new SizedGraphs(model).at(size);
    for (const layer of gradientLayers) {
      const weights = randomWeights(2, channelsOf(model, layer, size));
      // A flat image makes flat feature maps away from the borders: ties in every pool window there.
      for (const images of [randomImages(2, size), flat(2, size)]) {
        const [cpu, gpu] = await Promise.all([CPU_EMISSION, GPU_EMISSION].map((e) => gradientOn(buildGradientProgram(model, sized, layer, BATCH_DIM, e), images, weights)));
        const largest = Math.max(...cpu.map(Math.abs));
        const worst = Math.max(...cpu.map((v, i) => Math.abs(v - gpu[i])));
        expect(largest, layer).toBeGreaterThan(0);
        // Exact where pool windows do not overlap; where they do (branchy's 3x3/2), the sums add in another order.
        expect(worst / largest, layer).toBeLessThan(1e-6);
      }
    }
  });

  /** A model that is one max pool over the (unnormalised) image. */
  function poolModel(op: Extract<Op, { kind: 'maxPool' }>, size: Pair): CnnModel {
    return {
      name: 'pool',
      version: 'test',
      source: { format: 'onnx', path: 'pool.onnx' },
      graph: { inputChannels: 3, nodes: [{ name: 'pool', op, inputs: [INPUT] }], output: 'pool' },
      preprocessing: { inputSize: size, mean: [0, 0, 0], std: [1, 1, 1], resize: 'stretch' },
      weightsDigest: '0'.repeat(64),
    };
  }

  /**
   * The gradient of sum_c w[c] * mean(pool[c]) by the rule of ONNX Runtime's CPU MaxPool and
   * PyTorch's: each window's dy goes to its first maximum in row-major order (a later value must be
   * greater to take it), windows that overlap add up.
   */
  function firstMaxGradient(image: Float32Array, size: Pair, op: Extract<Op, { kind: 'maxPool' }>, out: Pair, weights: Float32Array): Float32Array {
    const [h, w] = size;
    const grad = new Float32Array(image.length);
    for (let c = 0; c < 3; c++) {
      const dy = weights[c] / (out[0] * out[1]);
      for (let oh = 0; oh < out[0]; oh++) {
        for (let ow = 0; ow < out[1]; ow++) {
          let best = -Infinity;
          let at = -1;
          for (let a = 0; a < op.kernel[0]; a++) {
            for (let b = 0; b < op.kernel[1]; b++) {
              const y = oh * op.strides[0] - op.pads[0] + a;
              const x = ow * op.strides[1] - op.pads[1] + b;
              if (y < 0 || y >= h || x < 0 || x >= w) continue;
              const index = (c * h + y) * w + x;
              if (image[index] > best) [best, at] = [image[index], index];
            }
          }
          grad[at] += dy;
        }
      }
    }
    return grad;
  }

  it.each([
    { name: '2x2/2, ceil (tiled, overhanging)', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil: true, out: [3, 4] },
    { name: '2x2/2, floor (tiled, a remainder)', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil: false, out: [2, 3] },
    { name: '3x3/2, padded (overlapping)', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1], ceil: false, out: [3, 4] },
    { name: '3x2/(1, 3), ceil (overlapping rows, gaps between columns)', kernel: [3, 2], strides: [1, 3], pads: [0, 0, 0, 0], ceil: true, out: [3, 3] },
  ] as const)('routes ties to the first maximum of each window: $name', async ({ out, name: _name, ...pool }) => {
    const size: Pair = [5, 7];
    const op = { kind: 'maxPool' as const, kernel: [...pool.kernel] as Pair, strides: [...pool.strides] as Pair, pads: [...pool.pads] as [number, number, number, number], ceil: pool.ceil };
    const model = poolModel(op, size);
    const sized = new SizedGraphs(model).at(size);
    expect(sized.shapes.get('pool')!.dims.slice(1)).toEqual(out);
    // Three levels only: most windows hold their maximum twice or more.
    const random = seededRandom(9);
    const image = Float32Array.from({ length: 3 * size[0] * size[1] }, () => Math.floor(random() * 3) / 2);
    const weights = Float32Array.from([1, -2, 0.5]);
    const expected = firstMaxGradient(image, size, op, [...out] as Pair, weights);
    const batch = { data: image, n: 1, height: size[0], width: size[1] };
    for (const emission of [CPU_EMISSION, GPU_EMISSION] satisfies EmitOptions[]) {
      const got = await gradientOn(buildGradientProgram(model, sized, 'pool', BATCH_DIM, emission), batch, weights);
      const worst = Math.max(...got.map((v, i) => Math.abs(v - expected[i])));
      expect(worst, emission.maxPoolGradient).toBeLessThan(1e-7);
    }
  });

  it('has no op the WebGPU provider lacks and no shape arithmetic, in every program with a backward pass', async () => {
    // Ops the WebGPU provider of onnxruntime-node 1.30 has no kernel for.
    const lacking = ['MaxUnpool', 'ScatterElements', 'Sum', 'Sign'];
    const shapeArithmetic = ['Shape', 'Size', 'Gather', 'ConstantOfShape', 'Range', 'Squeeze'];
    const tiny = await loadModel('darknet-tiny');
    for (const [model, size, layer, from] of [
      [tiny, [67, 67], 'leaky_re_lu_10', 'leaky_re_lu_2'],
      [branchy().model, [17, 13], 'head_concat', 'stem_relu'],
    ] as const) {
      const sized = new SizedGraphs(model).at(size as Pair);
      const programs = {
        gradient: buildGradientProgram(model, sized, layer, BATCH_DIM, GPU_EMISSION),
        backward: buildBackwardProgram(model, sized, layer, BATCH_DIM, GPU_EMISSION),
        attribution: buildAttributionProgram(model, sized, layer, from, BATCH_DIM, GPU_EMISSION),
      };
      for (const [kind, program] of Object.entries(programs)) {
        const ops = opTypes(program);
        expect(ops.filter((op) => [...lacking, ...shapeArithmetic].includes(op)), `${model.name} ${kind}`).toEqual([]);
        // MaxPool with its Indices output: registered by the WebGPU provider but not implemented.
        const pools = (onnx.ModelProto.decode(program.bytes).graph?.node ?? []).filter((n) => n.opType === 'MaxPool');
        expect(pools.length).toBeGreaterThan(0);
        expect(pools.every((n) => (n.output ?? []).filter(Boolean).length === 1)).toBe(true);
      }
      // Rows: the rows are gathered from the images (data, not shapes), and nothing else.
      const rows = opTypes(buildRowAttributionProgram(model, sized, layer, from, GPU_EMISSION));
      expect(rows.filter((op) => [...lacking, ...shapeArithmetic].includes(op) && op !== 'Gather')).toEqual([]);
    }
    // Forward: residual adds as Adds.
    const b = branchy().model;
    const forward = opTypes(buildForwardProgram(b, new SizedGraphs(b).at([17, 13]), ['head_concat'], BATCH_DIM, GPU_EMISSION));
    expect(forward.filter((op) => [...lacking, ...shapeArithmetic].includes(op))).toEqual([]);
    expect(forward).toContain('Add');
  });
});

describe('the placement line of a GPU run', () => {
  it("adds what crosses at the program's edges", () => {
    const line = formatPlacement({
      graph: 'gradient|l|56x56',
      nodes: 3,
      providers: { webgpu: { nodes: 3, flops: 2e9 } },
      copies: { nodes: 0, bytes: 0 },
      cpuOps: {},
      transfers: { toDevice: 4 * 3 * 56 * 56 * 4 + 4 * 512 * 4, toHost: 4 * 4 + 4 * 3 * 56 * 56 * 4 },
    });
    expect(line).toBe('placement gradient|l|56x56: 3 nodes, webgpu 3 (100.0 % of 2.00 GFLOP); no host<->device copies; inputs 0.159 MB to the device, outputs 0.151 MB back per run');
  });
});
