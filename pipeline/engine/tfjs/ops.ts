/**
 * The tfjs engine's rule for every op of the model graph (convolutions excepted: they run as fused
 * steps, see plan.ts and conv.ts). Gradients come from tfjs autodiff. tfjs is channels-last, so a
 * value carries its layout: NCHW maps stay NHWC between convs and pools (`nhwc`), everything else
 * is in the graph's own ("logical") layout, and each rule converts what it reads.
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import type { GraphNode, OpKind, OpOf } from '../../model/graph.js';
import type { Shape } from '../../model/shapes.js';
import { avgPool, maxPool } from './pool.js';
import type { TfModule } from './runtime.js';
import { batchNormAffine } from './weights.js';

export interface TfValue {
  t: Tensor;
  /** A rank-4 NCHW map held as NHWC. */
  nhwc: boolean;
}

export interface TfjsContext {
  tf: TfModule;
  node: GraphNode;
  inShapes: Shape[];
  outShape: Shape;
  /** A tensor made once per key and kept until the engine is disposed (weights, constants). */
  kept(key: string, make: () => Tensor): Tensor;
}

type TfjsRule<K extends OpKind> = (op: OpOf<K>, inputs: TfValue[], ctx: TfjsContext) => TfValue;

/** The graph's layout (NCHW for maps). */
export function logical(tf: TfModule, v: TfValue): Tensor {
  return v.nhwc ? tf.transpose(v.t, [0, 3, 1, 2]) : v.t;
}

/** A rank-4 map as NHWC. */
export function channelsLast(tf: TfModule, v: TfValue): Tensor4D {
  return (v.nhwc ? v.t : tf.transpose(v.t, [0, 2, 3, 1])) as Tensor4D;
}

const inLogical = (t: Tensor): TfValue => ({ t, nhwc: false });
const inNhwc = (t: Tensor): TfValue => ({ t, nhwc: true });

/** An element-wise op of one input, in whatever layout it comes. */
const unary =
  <K extends OpKind>(f: (tf: TfModule, x: Tensor, op: OpOf<K>) => Tensor): TfjsRule<K> =>
  (op, [x], { tf }) => ({ t: f(tf, x.t, op), nhwc: x.nhwc });

/** A [C] vector that scales channels: along the last axis of NHWC maps and (N, C) vectors, else as [C, 1, ...]. */
function perChannel(tf: TfModule, values: Float32Array, x: TfValue): Tensor {
  const lastAxis = x.nhwc || x.t.rank === 2;
  return lastAxis ? tf.tensor1d(values) : tf.tensor(values, [values.length, ...new Array(x.t.rank - 2).fill(1)]);
}

/**
 * Element-wise ops with NumPy broadcasting. When every computed input is an NHWC map, constants are
 * laid out to match (right-aligned to rank 4, then channels last); otherwise all go logical.
 */
function broadcasting<K extends 'add' | 'sub' | 'mul' | 'div'>(f: (tf: TfModule, a: Tensor, b: Tensor) => Tensor): TfjsRule<K> {
  return (_op, inputs, { tf, inShapes }) => {
    const maps = inputs.filter((_, i) => inShapes[i].batched);
    const nhwc = maps.every((v) => v.nhwc) && maps.length > 0;
    const tensors = inputs.map((v, i) => {
      if (inShapes[i].batched) return nhwc ? v.t : logical(tf, v);
      if (!nhwc) return v.t;
      const dims = [...new Array(4 - v.t.rank).fill(1), ...v.t.shape];
      return tf.transpose(v.t.reshape(dims), [0, 2, 3, 1]);
    });
    // A one-input sum is a copy: a new tensor, so freeing the input cannot free this output.
    return { t: tensors.length === 1 ? tensors[0].clone() : tensors.slice(1).reduce((a, b) => f(tf, a, b), tensors[0]), nhwc };
  };
}

const SQRT_2_PI = Math.sqrt(2 / Math.PI);

export const TFJS_RULES: { [K in Exclude<OpKind, 'conv'>]: TfjsRule<K> } = {
  batchNorm(op, [x], { tf, node, kept }) {
    const { a, b } = batchNormAffine(op);
    const key = `${node.name}|${x.nhwc || x.t.rank === 2 ? 'last' : x.t.rank}`;
    const scale = kept(`${key}|a`, () => perChannel(tf, a, x));
    const shift = kept(`${key}|b`, () => perChannel(tf, b, x));
    return { t: tf.add(tf.mul(x.t, scale), shift), nhwc: x.nhwc };
  },
  relu: unary((tf, x) => tf.relu(x)),
  leakyRelu: unary((tf, x, op) => tf.leakyRelu(x, op.alpha)),
  clip: unary((tf, x, op) => tf.clipByValue(x, op.min, op.max)),
  sigmoid: unary((tf, x) => tf.sigmoid(x)),
  tanh: unary((tf, x) => tf.tanh(x)),
  erf: unary((tf, x) => tf.erf(x)),
  softplus: unary((tf, x) => tf.softplus(x)),
  sqrt: unary((tf, x) => tf.sqrt(x)),
  reciprocal: unary((tf, x) => tf.reciprocal(x)),
  neg: unary((tf, x) => tf.neg(x)),
  pow: unary((tf, x, op) => (op.exponent === 2 ? tf.square(x) : tf.pow(x, tf.scalar(op.exponent)))),
  hardSigmoid: unary((tf, x, op) => tf.clipByValue(tf.add(tf.mul(x, op.alpha), op.beta), 0, 1)),
  hardSwish: unary((tf, x) => tf.mul(x, tf.clipByValue(tf.add(tf.div(x, 6), 0.5), 0, 1))),
  gelu: unary((tf, x, op) => {
    const inner = op.approximate === 'none' ? tf.erf(tf.mul(x, Math.SQRT1_2)) : tf.tanh(tf.mul(tf.add(x, tf.mul(tf.pow(x, tf.scalar(3)), 0.044715)), SQRT_2_PI));
    return tf.mul(tf.mul(x, 0.5), tf.add(inner, 1));
  }),
  add: broadcasting((tf, a, b) => tf.add(a, b)),
  sub: broadcasting((tf, a, b) => tf.sub(a, b)),
  mul: broadcasting((tf, a, b) => tf.mul(a, b)),
  div: broadcasting((tf, a, b) => tf.div(a, b)),
  maxPool: (op, [x], { tf }) => inNhwc(maxPool(tf, channelsLast(tf, x), op)),
  avgPool: (op, [x], { tf }) => inNhwc(avgPool(tf, channelsLast(tf, x), op)),
  globalAvgPool: (_op, [x], { tf }) => inNhwc(tf.mean(channelsLast(tf, x), [1, 2], true)),
  pad: (op, [x], { tf }) => inNhwc(tf.pad(channelsLast(tf, x), [[0, 0], [op.pads[0], op.pads[2]], [op.pads[1], op.pads[3]], [0, 0]])),
  reduceMean: (op, [x], { tf }) => inLogical(tf.mean(logical(tf, x), op.axes, op.keepDims)),
  reduceSum: (op, [x], { tf }) => inLogical(tf.sum(logical(tf, x), op.axes, op.keepDims)),
  transpose: (op, [x], { tf }) => inLogical(tf.transpose(logical(tf, x), op.perm)),
  reshape: (_op, [x], { tf, outShape }) => inLogical(tf.reshape(logical(tf, x), [x.t.shape[0], ...outShape.dims])),
  flatten: (_op, [x], { tf, outShape }) => inLogical(tf.reshape(logical(tf, x), [x.t.shape[0], ...outShape.dims])),
  squeeze: (_op, [x], { tf, outShape }) => inLogical(tf.reshape(logical(tf, x), [x.t.shape[0], ...outShape.dims])),
  unsqueeze: (_op, [x], { tf, outShape }) => inLogical(tf.reshape(logical(tf, x), [x.t.shape[0], ...outShape.dims])),
  slice(op, [x], { tf }) {
    // Channels of a map: slice the NHWC tensor's last axis directly.
    if (op.axis === 1 && x.nhwc) return inNhwc(tf.slice(x.t, [0, 0, 0, op.start], [-1, -1, -1, op.end - op.start]));
    const begin = new Array(x.t.rank).fill(0);
    const size = new Array(x.t.rank).fill(-1);
    begin[op.axis] = op.start;
    size[op.axis] = op.end - op.start;
    return inLogical(tf.slice(logical(tf, x), begin, size));
  },
  concat(op, inputs, { tf }) {
    const axis = op.axis ?? 1;
    // Channels of maps (DenseNet, Inception): concatenate NHWC tensors on their last axis.
    if (axis === 1 && inputs.every((v) => v.t.rank === 4)) return inNhwc(tf.concat(inputs.map((v) => channelsLast(tf, v)), 3));
    return inLogical(tf.concat(inputs.map((v) => logical(tf, v)), axis));
  },
  layerNorm(op, [x], { tf, node, kept, inShapes }) {
    const value = logical(tf, x);
    const axes = Array.from({ length: value.rank - op.axis }, (_, i) => op.axis + i);
    const normalized = inShapes[0].dims.slice(op.axis - 1);
    const mean = tf.mean(value, axes, true);
    const centred = tf.sub(value, mean);
    const variance = tf.mean(tf.square(centred), axes, true);
    let y = tf.div(centred, tf.sqrt(tf.add(variance, op.epsilon)));
    if (op.scale) y = tf.mul(y, kept(`${node.name}|scale`, () => tf.tensor(op.scale!, normalized)));
    if (op.bias) y = tf.add(y, kept(`${node.name}|bias`, () => tf.tensor(op.bias!, normalized)));
    return inLogical(y);
  },
  dense(op, [x], { tf, node, kept, outShape }) {
    const value = logical(tf, x);
    const [out, inFeatures] = op.weight.shape;
    const weight = kept(`${node.name}|weight`, () => tf.tensor2d(op.weight.data, [out, inFeatures]));
    const rows = value.rank === 2 ? value : value.reshape([-1, inFeatures]);
    let y: Tensor = tf.matMul(rows as import('@tensorflow/tfjs').Tensor2D, weight as import('@tensorflow/tfjs').Tensor2D, false, true);
    if (op.bias) y = tf.add(y, kept(`${node.name}|bias`, () => tf.tensor1d(op.bias!)));
    return inLogical(value.rank === 2 ? y : y.reshape([value.shape[0], ...outShape.dims]));
  },
  softmax(op, [x], { tf }) {
    const axis = op.axis ?? 1;
    // tfjs's softmax is over the last axis: the channels of an NHWC map, or a moved axis.
    if (axis === 1 && (x.nhwc || x.t.rank === 2)) return { t: tf.softmax(x.t), nhwc: x.nhwc };
    const value = logical(tf, x);
    const perm = Array.from({ length: value.rank }, (_, i) => i);
    perm[axis] = value.rank - 1;
    perm[value.rank - 1] = axis;
    return inLogical(tf.transpose(tf.softmax(tf.transpose(value, perm)), perm));
  },
  constant: (op, _inputs, { tf, node, kept }) => inLogical(kept(`${node.name}|value`, () => tf.tensor(op.value.data, op.value.shape))),
  identity: (_op, [x]) => ({ t: x.t.clone(), nhwc: x.nhwc }),
};
