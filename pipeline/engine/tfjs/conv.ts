/**
 * Convolution with a hand-written input gradient (tf.customGrad). tfjs's stock gradient runs
 * Conv2DBackpropInput, which the wasm backend implements as a slow loop (VGG16-BN 112 px:
 * 4.2 s/step vs 0.7 s, docs/design.md section 3), and it has no DepthwiseConv2dNativeBackpropInput
 * kernel at all. The input gradient of a conv is itself a conv (XNNPACK-fast): zero-insert dy
 * for strides, pad, and correlate with the kernel flipped spatially and in/out channels swapped.
 * A BatchNorm and a ReLU / ReLU6 / LeakyReLU that follow the conv are fused into one call.
 */
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import type { Op, Pads, Pair } from '../../model/graph.js';
import type { TfModule } from './runtime.js';
import { zeroInsert } from './spatial.js';
import { sliceOutputs, toBackwardHwio, toDepthwise, toHwio, type ConvParams } from './weights.js';

type ConvOp = Extract<Op, { kind: 'conv' }>;

export type FusedActivation = { kind: 'linear' } | { kind: 'relu' } | { kind: 'relu6' } | { kind: 'leakyrelu'; alpha: number };

/** One tfjs convolution (a whole conv, or one group of a grouped conv). Tensors are owned here. */
interface ConvKernel {
  depthwise: boolean;
  /** HWIO (dense) or [H, W, C, multiplier] (depthwise). */
  filter: Tensor4D;
  /** Input-gradient filters: one HWIO (dense), or one [H, W, C, 1] per multiplier slice (depthwise). */
  backward: Tensor4D[];
  bias: Tensor1D;
  kernel: Pair;
  strides: Pair;
  pads: Pads;
  dilations: Pair;
}

/** A conv node ready to run: one kernel, or one per group (split input channels, concat outputs). */
export interface ConvUnit {
  kernels: ConvKernel[];
}

export function makeConvUnit(tf: TfModule, op: ConvOp, params: ConvParams, inChannels: number): ConvUnit {
  const [outChannels, perGroupIn, kh, kw] = params.weight.shape;
  const common = { kernel: [kh, kw] as Pair, strides: op.strides, pads: op.pads, dilations: op.dilations };
  const bias = (p: ConvParams) => tf.tensor1d(p.bias);
  if (op.group > 1 && op.group === inChannels && perGroupIn === 1) {
    const m = outChannels / inChannels;
    const backward = Array.from({ length: m }, (_, j) => tf.tensor4d(toDepthwise(params.weight, inChannels, j), [kh, kw, inChannels, 1]));
    const filter = tf.tensor4d(toDepthwise(params.weight, inChannels), [kh, kw, inChannels, m]);
    return { kernels: [{ depthwise: true, filter, backward, bias: bias(params), ...common }] };
  }
  const perGroupOut = outChannels / op.group;
  const kernels = Array.from({ length: op.group }, (_, g) => {
    const p = op.group === 1 ? params : sliceOutputs(params, g * perGroupOut, perGroupOut);
    return {
      depthwise: false,
      filter: tf.tensor4d(toHwio(p.weight), [kh, kw, perGroupIn, perGroupOut]),
      backward: [tf.tensor4d(toBackwardHwio(p.weight), [kh, kw, perGroupOut, perGroupIn])],
      bias: bias(p),
      ...common,
    };
  });
  return { kernels };
}

export function disposeConvUnit(unit: ConvUnit): void {
  for (const k of unit.kernels) {
    k.filter.dispose();
    k.bias.dispose();
    for (const b of k.backward) b.dispose();
  }
}

/** Explicit NHWC padding in tfjs's format. */
function explicit(pads: Pads): [[number, number], [number, number], [number, number], [number, number]] {
  return [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]];
}

/**
 * d loss / d input of one conv kernel, from d loss / d (pre-activation) output.
 * Per axis: the zero-inserted dy (length out*s, the last s-1 being zeros) is padded by
 * effK-1-padBefore on the left and so that a 'valid' correlation yields exactly the input size;
 * negative pads become crops.
 */
function inputGradient(tf: TfModule, dz: Tensor4D, k: ConvKernel, inShape: [number, number, number, number]): Tensor4D {
  let t = zeroInsert(tf, dz, k.strides);
  const pads: Pads = [0, 0, 0, 0];
  const begin = [0, 0, 0, 0];
  const size = [...t.shape];
  for (const axis of [0, 1] as const) {
    const inSize = inShape[1 + axis];
    const outSize = dz.shape[1 + axis];
    const s = k.strides[axis];
    const effK = (k.kernel[axis] - 1) * k.dilations[axis] + 1;
    const padded = inSize + k.pads[axis] + k.pads[axis + 2];
    const unused = padded - ((outSize - 1) * s + effK); // trailing rows no window reached
    const left = effK - 1 - k.pads[axis];
    const right = effK - 1 + unused - k.pads[axis + 2] - (s - 1);
    if (left < 0) {
      begin[1 + axis] = -left;
      size[1 + axis] += left;
    } else pads[axis] = left;
    if (right < 0) size[1 + axis] += right;
    else pads[axis + 2] = right;
  }
  if (begin.some((b) => b > 0) || size.some((s, i) => s !== t.shape[i])) t = tf.slice(t, begin, size);
  const pad = explicit(pads);
  if (!k.depthwise) return tf.conv2d(t, k.backward[0], 1, pad, 'NHWC', k.dilations);
  if (k.backward.length === 1) return tf.depthwiseConv2d(t, k.backward[0], 1, pad, 'NHWC', k.dilations);
  // Multiplier m > 1: input channel c received outputs c*m + j; sum the m depthwise correlations.
  const [n, h, w] = t.shape;
  const channels = inShape[3];
  const split = t.reshape([n, h, w, channels, k.backward.length]);
  const parts = k.backward.map((filter, j) => {
    const dj = tf.slice(split, [0, 0, 0, 0, j], [n, h, w, channels, 1]).reshape([n, h, w, channels]) as Tensor4D;
    return tf.depthwiseConv2d(dj, filter, 1, pad, 'NHWC', k.dilations);
  });
  return tf.addN(parts) as Tensor4D;
}

/** d loss / d pre-activation from d loss / d output y, for the fused activation. */
function activationGradient(tf: TfModule, dy: Tensor4D, y: Tensor4D, act: FusedActivation): Tensor4D {
  switch (act.kind) {
    case 'linear':
      return dy;
    case 'relu':
      return tf.mul(dy, tf.step(y));
    case 'relu6':
      return tf.where(tf.logicalAnd(tf.greater(y, 0), tf.less(y, 6)), dy, tf.zerosLike(dy));
    case 'leakyrelu':
      return tf.where(tf.greater(y, 0), dy, tf.mul(dy, act.alpha) as Tensor4D);
  }
}

function runKernel(tf: TfModule, x: Tensor4D, k: ConvKernel, act: FusedActivation): Tensor4D {
  const forward = tf.customGrad((...args) => {
    const [xi, save] = args as [Tensor4D, (tensors: Tensor4D[]) => void];
    // The fused kernels run directly: tf.fused.* splits into conv + bias + activation whenever a
    // gradient is being recorded, which is always the case here, and the split costs extra passes.
    const attrs = {
      strides: k.strides,
      dataFormat: 'NHWC',
      dilations: k.dilations,
      activation: act.kind,
      leakyreluAlpha: act.kind === 'leakyrelu' ? act.alpha : 0,
    };
    let value: Tensor4D;
    if (!k.depthwise) {
      value = tf.engine().runKernel('FusedConv2D', { x: xi, filter: k.filter, bias: k.bias }, { ...attrs, pad: explicit(k.pads) });
    } else {
      // Depthwise kernels take no explicit padding: uniform pads pass as a number, others as a pad op.
      const [t, l, b, r] = k.pads;
      const uniform = t === l && t === b && t === r;
      const input = uniform ? xi : tf.pad(xi, explicit(k.pads));
      value = tf.engine().runKernel('FusedDepthwiseConv2D', { x: input, filter: k.filter, bias: k.bias }, { ...attrs, pad: uniform ? t : 'valid' });
    }
    save([value]);
    const inShape = xi.shape;
    return {
      value,
      gradFunc: (dy: Tensor4D, saved: Tensor[]) => inputGradient(tf, activationGradient(tf, dy, saved[0] as Tensor4D, act), k, inShape),
    };
  });
  return forward(x);
}

/** Runs a conv unit on NHWC x; differentiable w.r.t. x through the hand-written gradient. */
export function applyConv(tf: TfModule, x: Tensor4D, unit: ConvUnit, act: FusedActivation): Tensor4D {
  if (unit.kernels.length === 1) return runKernel(tf, x, unit.kernels[0], act);
  const parts = tf.split(x, unit.kernels.length, 3) as Tensor4D[];
  return tf.concat(
    unit.kernels.map((k, g) => runKernel(tf, parts[g], k, act)),
    3,
  );
}
