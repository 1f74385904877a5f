/**
 * Max and average pooling with explicit pads and torch's ceil mode, on NHWC tensors.
 * tfjs pools only know 'valid'/'same', so padding happens first: -inf for max pooling (a pad
 * never wins), zeros for average pooling with a per-position divisor that follows torch
 * (count_include_pad counts the explicit pads but never the extra ceil-mode rows).
 * Max pooling carries its own gradient (see validMaxPool); average pooling and the pads use
 * tfjs's own gradients (AvgPoolGrad, slice).
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import type { Op, Pads } from '../../model/graph.js';
import type { TfModule } from './runtime.js';
import { padOrCrop, zeroInsert } from './spatial.js';

type PoolOp = Extract<Op, { kind: 'maxPool' | 'avgPool' }>;

/** Output size along one axis, torch's rule (same as pipeline/model/layers.ts inferShapes). */
export function poolOutputSize(size: number, kernel: number, stride: number, padBefore: number, padAfter: number, ceil: boolean): number {
  const span = size + padBefore + padAfter - kernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // torch: the last window must start inside the image or the left padding.
  if (ceil && (out - 1) * stride >= size + padBefore) out -= 1;
  return out;
}

interface PoolGeometry {
  out: [number, number];
  /** Pads to apply before a 'valid' pool: the op's pads plus ceil-mode rows/columns at the end. */
  pads: Pads;
}

function geometry(op: PoolOp, height: number, width: number): PoolGeometry {
  const size = [height, width];
  const out: [number, number] = [0, 0];
  const pads: Pads = [op.pads[0], op.pads[1], op.pads[2], op.pads[3]];
  for (const axis of [0, 1] as const) {
    out[axis] = poolOutputSize(size[axis], op.kernel[axis], op.strides[axis], op.pads[axis], op.pads[axis + 2], op.ceil);
    const needed = (out[axis] - 1) * op.strides[axis] + op.kernel[axis];
    const have = size[axis] + op.pads[axis] + op.pads[axis + 2];
    if (needed > have) pads[axis + 2] += needed - have;
  }
  return { out, pads };
}

function padNhwc(tf: TfModule, x: Tensor4D, pads: Pads, value: number): Tensor4D {
  if (pads.every((p) => p === 0)) return x;
  return tf.pad(x, [[0, 0], [pads[0], pads[2]], [pads[1], pads[3]], [0, 0]], value);
}

/** Crops a 'valid' pool result to the expected size (windows past the ceil-mode rows). */
function crop(tf: TfModule, y: Tensor4D, out: [number, number]): Tensor4D {
  if (y.shape[1] === out[0] && y.shape[2] === out[1]) return y;
  return tf.slice(y, [0, 0, 0, 0], [y.shape[0], out[0], out[1], y.shape[3]]);
}

/**
 * d loss / d input of a 'valid' max pool, as the first maximum of each window in row-major
 * order receiving the window's dy (torch and TensorFlow pick the same element); overlapping
 * windows add up.
 */
function maxPoolGradient(tf: TfModule, dy: Tensor4D, x: Tensor4D, y: Tensor4D, op: Extract<Op, { kind: 'maxPool' }>): Tensor4D {
  const tiles = op.strides[0] === op.kernel[0] && op.strides[1] === op.kernel[1];
  return tiles ? tiledGradient(tf, dy, x, op.kernel) : overlappingGradient(tf, dy, x, y, op);
}

/**
 * Windows that tile the input (stride = kernel): view the input as [windows, kh*kw], take the
 * first argmax of each window, one-hot it times dy, and fold the windows back. A few large
 * copies (transposes) instead of per-offset strided slices, which are slow in tfjs wasm.
 */
function tiledGradient(tf: TfModule, dy: Tensor4D, x: Tensor4D, kernel: readonly [number, number]): Tensor4D {
  const [n, height, width, c] = x.shape;
  const [outH, outW] = [dy.shape[1], dy.shape[2]];
  const [kh, kw] = kernel;
  const covered = tf.slice(x, [0, 0, 0, 0], [n, outH * kh, outW * kw, c]);
  const windows = tf.transpose(covered.reshape([n * outH, kh, outW, kw, c]), [0, 2, 4, 1, 3]).reshape([-1, kh * kw]);
  // oneHot straight to float32 writes integer bits in tfjs wasm 4.22 (1 reads as 1.4e-45): cast instead.
  const first = tf.cast(tf.oneHot(tf.argMax(windows, 1), kh * kw), 'float32');
  const chosen = tf.mul(first, dy.reshape([-1, 1]));
  const folded = tf.transpose(chosen.reshape([n * outH, outW, c, kh, kw]), [0, 3, 1, 4, 2]).reshape([n, outH * kh, outW * kw, c]) as Tensor4D;
  return padOrCrop(tf, folded, [0, 0, height - outH * kh, width - outW * kw]);
}

/**
 * Overlapping windows: for each kernel offset (i, j), the input values at that offset of every
 * window take dy where they equal the window's maximum and no earlier offset did;
 * zero-inserting by the strides and shifting by (i, j) puts them back at their input positions.
 */
function overlappingGradient(tf: TfModule, dy: Tensor4D, x: Tensor4D, y: Tensor4D, op: Extract<Op, { kind: 'maxPool' }>): Tensor4D {
  const [n, height, width, c] = x.shape;
  const [outH, outW] = [y.shape[1], y.shape[2]];
  const [sh, sw] = op.strides;
  const zeros = tf.zerosLike(dy);
  let taken: Tensor | undefined;
  let total: Tensor4D | undefined;
  for (let i = 0; i < op.kernel[0]; i++)
    for (let j = 0; j < op.kernel[1]; j++) {
      const atOffset = tf.stridedSlice(x, [0, i, j, 0], [n, i + (outH - 1) * sh + 1, j + (outW - 1) * sw + 1, c], [1, sh, sw, 1]) as Tensor4D;
      const isMax = tf.equal(atOffset, y);
      const first = taken ? tf.logicalAnd(isMax, tf.logicalNot(taken)) : isMax;
      taken = taken ? tf.logicalOr(taken, isMax) : isMax;
      const spread = zeroInsert(tf, tf.where(first, dy, zeros), op.strides);
      const placed = padOrCrop(tf, spread, [i, j, height - i - outH * sh, width - j - outW * sw]);
      total = total ? (tf.add(total, placed) as Tensor4D) : placed;
    }
  return total!;
}

/**
 * 'valid' max pooling: forward by tf.maxPool, backward by maxPoolGradient. The wasm backend's
 * own MaxPoolGrad (and MaxPoolWithArgmax) lose every window whose maximum is negative (they
 * appear to start from the smallest positive float), which LeakyReLU and BN outputs hit often.
 */
function validMaxPool(tf: TfModule, x: Tensor4D, op: Extract<Op, { kind: 'maxPool' }>): Tensor4D {
  const pool = tf.customGrad((...args) => {
    const [input, save] = args as [Tensor4D, (tensors: Tensor[]) => void];
    const value = tf.maxPool(input, op.kernel, op.strides, 'valid');
    save([input, value]);
    return { value, gradFunc: (dy: Tensor4D, saved: Tensor[]) => maxPoolGradient(tf, dy, saved[0] as Tensor4D, saved[1] as Tensor4D, op) };
  });
  return pool(x);
}

export function maxPool(tf: TfModule, x: Tensor4D, op: Extract<Op, { kind: 'maxPool' }>): Tensor4D {
  const g = geometry(op, x.shape[1], x.shape[2]);
  const padded = padNhwc(tf, x, g.pads, -Infinity);
  return crop(tf, validMaxPool(tf, padded, op), g.out);
}

/**
 * Divisor correction per output position, as [1, H, W, 1]: kernel area / torch's divisor.
 * Returns undefined when every window divides by the full kernel area.
 */
function avgPoolScale(op: Extract<Op, { kind: 'avgPool' }>, height: number, width: number, out: [number, number]): Float32Array | undefined {
  const perAxis = [height, width].map((size, axis) => {
    const counts: number[] = [];
    for (let o = 0; o < out[axis]; o++) {
      const start = o * op.strides[axis] - op.pads[axis];
      const end = Math.min(start + op.kernel[axis], size + op.pads[axis + 2]);
      counts.push(op.countIncludePad ? end - start : Math.min(end, size) - Math.max(start, 0));
    }
    return counts;
  });
  const area = op.kernel[0] * op.kernel[1];
  const scale = new Float32Array(out[0] * out[1]);
  let uniform = true;
  for (let h = 0; h < out[0]; h++)
    for (let w = 0; w < out[1]; w++) {
      const v = area / (perAxis[0][h] * perAxis[1][w]);
      scale[h * out[1] + w] = v;
      if (v !== 1) uniform = false;
    }
  return uniform ? undefined : scale;
}

export function avgPool(tf: TfModule, x: Tensor4D, op: Extract<Op, { kind: 'avgPool' }>): Tensor4D {
  const g = geometry(op, x.shape[1], x.shape[2]);
  const padded = padNhwc(tf, x, g.pads, 0);
  const y = crop(tf, tf.avgPool(padded, op.kernel, op.strides, 'valid'), g.out);
  const scale = avgPoolScale(op, x.shape[1], x.shape[2], g.out);
  return scale ? tf.mul(y, tf.tensor4d(scale, [1, g.out[0], g.out[1], 1])) : y;
}
