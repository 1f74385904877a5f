/** Spatial rearrangements of NHWC tensors shared by the hand-written conv and pool gradients. */
import type { Tensor3D, Tensor4D } from '@tensorflow/tfjs';
import type { Pads, Pair } from '../../model/graph.js';
import type { TfModule } from './runtime.js';

/**
 * Inserts stride-1 zeros after every row/column (the transpose of a strided sampling):
 * [N, H, W, C] -> [N, H*sh, W*sw, C], value (h, w) landing at (h*sh, w*sw).
 */
export function zeroInsert(tf: TfModule, t: Tensor4D, strides: Pair): Tensor4D {
  const [n, h, w, c] = t.shape;
  let out = t;
  if (strides[0] > 1) {
    const rows = tf.pad(out.reshape([n * h, 1, w * c]) as Tensor3D, [[0, 0], [0, strides[0] - 1], [0, 0]]);
    out = rows.reshape([n, h * strides[0], w, c]);
  }
  if (strides[1] > 1) {
    const hh = out.shape[1];
    const cols = tf.pad(out.reshape([n * hh * w, 1, c]) as Tensor3D, [[0, 0], [0, strides[1] - 1], [0, 0]]);
    out = cols.reshape([n, hh, w * strides[1], c]);
  }
  return out;
}

/** Zero-pads the spatial sides [top, left, bottom, right]; a negative amount crops that side. */
export function padOrCrop(tf: TfModule, t: Tensor4D, sides: Pads): Tensor4D {
  const [n, h, w, c] = t.shape;
  const crop = sides.map((s) => Math.max(0, -s));
  let out = t;
  if (crop.some((s) => s > 0)) out = tf.slice(out, [0, crop[0], crop[1], 0], [n, h - crop[0] - crop[2], w - crop[1] - crop[3], c]);
  const pad = sides.map((s) => Math.max(0, s));
  if (pad.some((s) => s > 0)) out = tf.pad(out, [[0, 0], [pad[0], pad[2]], [pad[1], pad[3]], [0, 0]]);
  return out;
}
