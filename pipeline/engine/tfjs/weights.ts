/**
 * Weight layout conversions for the tfjs engine, in plain JS (no tensors): the graph stores
 * OIHW conv weights, tfjs wants HWIO (conv2d) or HW,C,multiplier (depthwiseConv2d), and the
 * input gradient of a conv is a conv with the kernel flipped spatially and in/out swapped.
 */
import type { Op, Tensor } from '../../model/graph.js';

type ConvOp = Extract<Op, { kind: 'conv' }>;
type BatchNormOp = Extract<Op, { kind: 'batchNorm' }>;

/** A conv's weights with an optional BatchNorm folded in: weight OIHW, bias per output channel. */
export interface ConvParams {
  weight: Tensor;
  bias: Float32Array;
}

/** Per-channel affine form of eval-mode BatchNorm: y = x * a + b. */
export function batchNormAffine(op: BatchNormOp): { a: Float32Array; b: Float32Array } {
  const n = op.scale.length;
  const a = new Float32Array(n);
  const b = new Float32Array(n);
  for (let c = 0; c < n; c++) {
    a[c] = op.scale[c] / Math.sqrt(op.variance[c] + op.epsilon);
    b[c] = op.bias[c] - op.mean[c] * a[c];
  }
  return { a, b };
}

/** Folds an eval-mode BatchNorm that directly follows a conv into the conv's weight and bias. */
export function foldConv(conv: ConvOp, bn?: BatchNormOp): ConvParams {
  const [out] = conv.weight.shape;
  const perOut = conv.weight.data.length / out;
  const bias = new Float32Array(out);
  if (conv.bias) bias.set(conv.bias);
  if (!bn) return { weight: conv.weight, bias };
  const { a, b } = batchNormAffine(bn);
  const data = new Float32Array(conv.weight.data.length);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < perOut; i++) data[o * perOut + i] = conv.weight.data[o * perOut + i] * a[o];
    bias[o] = bias[o] * a[o] + b[o];
  }
  return { weight: { shape: conv.weight.shape, data }, bias };
}

/** OIHW -> HWIO (tfjs conv2d filter). */
export function toHwio(weight: Tensor): Float32Array {
  const [o, i, h, w] = weight.shape;
  const out = new Float32Array(weight.data.length);
  for (let oo = 0; oo < o; oo++)
    for (let ii = 0; ii < i; ii++)
      for (let hh = 0; hh < h; hh++)
        for (let ww = 0; ww < w; ww++) out[((hh * w + ww) * i + ii) * o + oo] = weight.data[((oo * i + ii) * h + hh) * w + ww];
  return out;
}

/**
 * OIHW -> the HWIO filter of the input-gradient conv: spatially flipped, in/out swapped
 * (B[h][w][o][i] = W[o][i][H-1-h][W-1-w]); its "input" channels are the forward outputs.
 */
export function toBackwardHwio(weight: Tensor): Float32Array {
  const [o, i, h, w] = weight.shape;
  const out = new Float32Array(weight.data.length);
  for (let oo = 0; oo < o; oo++)
    for (let ii = 0; ii < i; ii++)
      for (let hh = 0; hh < h; hh++)
        for (let ww = 0; ww < w; ww++)
          out[((hh * w + ww) * o + oo) * i + ii] = weight.data[((oo * i + ii) * h + (h - 1 - hh)) * w + (w - 1 - ww)];
  return out;
}

/**
 * Depthwise weight [C*m, 1, H, W] -> tfjs depthwise filter [H, W, C, m] (output channel c*m + j,
 * the same order as ONNX/torch groups). With flip, the kernel is spatially flipped (for the
 * input gradient) and only multiplier slice `j` is kept: [H, W, C, 1].
 */
export function toDepthwise(weight: Tensor, channels: number, flipSlice?: number): Float32Array {
  const [outChannels, , h, w] = weight.shape;
  const m = outChannels / channels;
  const slices = flipSlice === undefined ? m : 1;
  const out = new Float32Array(h * w * channels * slices);
  for (let c = 0; c < channels; c++)
    for (let j = 0; j < m; j++) {
      if (flipSlice !== undefined && j !== flipSlice) continue;
      const jj = flipSlice === undefined ? j : 0;
      for (let hh = 0; hh < h; hh++)
        for (let ww = 0; ww < w; ww++) {
          const [sh, sw] = flipSlice === undefined ? [hh, ww] : [h - 1 - hh, w - 1 - ww];
          out[((hh * w + ww) * channels + c) * slices + jj] = weight.data[((c * m + j) * h + sh) * w + sw];
        }
    }
  return out;
}

/** The weight of output channels [from, from + count) of an OIHW tensor (one conv group). */
export function sliceOutputs(params: ConvParams, from: number, count: number): ConvParams {
  const [, i, h, w] = params.weight.shape;
  const per = i * h * w;
  return {
    weight: { shape: [count, i, h, w], data: params.weight.data.slice(from * per, (from + count) * per) },
    bias: params.bias.slice(from, from + count),
  };
}
