/**
 * What an op's ONNX Runtime rule receives: the graph builder, the node's tensors and shapes, and
 * (for its gradient) the output gradient. Shared helpers for the rules: per-channel constants and
 * the one place a broadcast input's gradient is summed back to that input's shape.
 */
import type { OpKind, OpOf } from '../../../model/graph.js';
import type { Shape } from '../../../model/shapes.js';
import type { OnnxGraphBuilder } from '../onnx-builder.js';

export interface LowerContext {
  builder: OnnxGraphBuilder;
  /** The graph node's name: a prefix for every tensor the rule makes. */
  name: string;
  /** The inputs' tensors and shapes, in the node's input order. */
  inputs: string[];
  inShapes: Shape[];
  outShape: Shape;
  /** Max pools also output their argmax indices (the backward pass needs them). */
  withIndices: boolean;
  /** Records a max pool's indices tensor for its backward rule. */
  setPoolIndices(indices: string): void;
}

/**
 * How a max pool's input gradient is emitted. `indices`: MaxPool's Indices output placed by MaxUnpool
 * (or ScatterElements where windows overlap), what the CPU provider runs and the atlas pictures were
 * made with. `windows`: each window offset compared with the pooled maximum (max-pool-windows.ts),
 * with ops every GPU provider has kernels for; no Indices, no shape arithmetic.
 */
export type MaxPoolGradient = 'indices' | 'windows';

/**
 * LeakyReLU's slope: `scaled`, Clip(y * FLT_MAX, alpha, 1) (the CPU's, elementwise.ts); `mask`,
 * Where(y > 0, dy, alpha dy), the same values with ops every GPU provider has (WebGPU has no Sign).
 */
export type LeakyReluSlope = 'scaled' | 'mask';

/** The backward rules that have more than one form, and the form to emit (programs.ts chooses by provider). */
export interface GradientForms {
  maxPoolGradient: MaxPoolGradient;
  leakyReluSlope: LeakyReluSlope;
}

export interface GradContext extends LowerContext, GradientForms {
  /** The node's forward output tensor. */
  output: string;
  /** d objective / d output. */
  dy: string;
  /** Which inputs need a gradient (computed tensors; constants do not). */
  needs: boolean[];
  /** The max pool's indices tensor recorded by the forward rule (`indices` emission only). */
  poolIndices(): string;
}

export interface OrtRule<K extends OpKind> {
  /** Emits the op; returns its output tensor. */
  forward(op: OpOf<K>, ctx: LowerContext): string;
  /** Emits the input gradients, in input order (undefined where not needed). Absent: not differentiable. */
  backward?(op: OpOf<K>, ctx: GradContext): (string | undefined)[];
}

/** A [1, C, 1, ...] constant that multiplies or shifts per channel (axis 1) at the tensor's rank. */
export function perChannel(builder: OnnxGraphBuilder, hint: string, values: ArrayLike<number>, rank = 4): string {
  return builder.floatTensor(hint, Float32Array.from(values), [1, values.length, ...new Array(Math.max(0, rank - 2)).fill(1)]);
}

/** Full-rank dims for ONNX ops that take a shape: the batch copied (0), the rest fixed. */
export function reshapeTarget(builder: OnnxGraphBuilder, hint: string, shape: Shape): string {
  return builder.int64Tensor(hint, [0, ...shape.dims]);
}

/**
 * The gradient of a broadcast input: `grad` has the output's shape; sum it over the axes the input
 * was broadcast along (size 1 in the input, more in the output), keeping dims, so it matches the
 * input's shape. Inputs and outputs of one rank share the batch axis (the shape rules insist).
 */
export function sumToShape(ctx: LowerContext, grad: string, input: Shape, hint: string): string {
  const axes = input.dims.flatMap((d, i) => (d === 1 && ctx.outShape.dims[i] !== 1 ? [i + 1] : []));
  if (axes.length === 0) return grad;
  return ctx.builder.op('ReduceSum', [grad, ctx.builder.int64Tensor(`${hint}.axes`, axes)], hint, { keepdims: 1 });
}

/** rank of a computed tensor's full shape (batch included). */
export const fullRank = (shape: Shape): number => shape.dims.length + 1;
