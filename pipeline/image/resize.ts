/**
 * The model-input resize of every photo (image/load.ts), in plain TypeScript so that a browser page
 * computes the CLI's exact input: the site's in-browser probe runs this file on the pixels the
 * browser decodes, then the model. It follows libvips' `resize` with the cubic kernel ('cover'
 * centre crop or 'fill' stretch, what the CLI used through sharp before) for 8-bit images: a box shrink by whole factors when the image is more than
 * twice the target, then a vertical and a horizontal pass of a Catmull-Rom kernel widened by the
 * residual factor (antialiasing), each rounded to 8 bits, with edge pixels repeated.
 * test/image/resize.test.ts measures its distance from sharp's resize on real photos (a fraction of
 * a grey level on average).
 * No Node imports: the site bundles this file for the browser.
 */

export interface ResizeTarget {
  /** [height, width] of the model input. */
  inputSize: readonly [number, number];
  resize: 'stretch' | 'center-crop';
}

/** Catmull-Rom (cubic, B = 0, C = 0.5), libvips' VIPS_KERNEL_CUBIC. */
function cubic(x: number): number {
  const a = Math.abs(x);
  if (a < 1) return 1.5 * a * a * a - 2.5 * a * a + 1;
  if (a < 2) return -0.5 * a * a * a + 2.5 * a * a - 4 * a + 2;
  return 0;
}

/** Averages `factor` x 1 (or 1 x factor) blocks, as vips_shrinkh / vips_shrinkv do for 8-bit pixels (rounded). */
function boxShrink(src: Uint8Array, width: number, height: number, channels: number, fx: number, fy: number): { data: Uint8Array<ArrayBufferLike>; width: number; height: number } {
  const w = Math.floor(width / fx);
  const h = Math.floor(height / fy);
  const out = new Uint8Array(w * h * channels);
  const n = fx * fy;
  // One row of block sums, added in the order of the plain loop (j, then i), which integers make exact anyway.
  const sums = new Float64Array(w * channels);
  for (let y = 0; y < h; y++) {
    sums.fill(0);
    for (let j = 0; j < fy; j++) {
      const row = (y * fy + j) * width * channels;
      for (let x = 0; x < w; x++) {
        const block = row + x * fx * channels;
        for (let c = 0; c < channels; c++) {
          let sum = 0;
          for (let i = 0; i < fx; i++) sum += src[block + i * channels + c];
          sums[x * channels + c] += sum;
        }
      }
    }
    const base = y * w * channels;
    for (let k = 0; k < w * channels; k++) out[base + k] = Math.floor((sums[k] + n / 2) / n);
  }
  return { data: out, width: w, height: h };
}

/** Weights of one output sample: centre convention, kernel widened by `factor`, normalised to sum 1. */
function taps(position: number, factor: number, size: number): { start: number; weights: Float64Array } {
  const scale = Math.max(1, factor);
  const support = 2 * scale;
  const centre = (position + 0.5) * factor - 0.5;
  const start = Math.floor(centre - support) + 1;
  const count = Math.ceil(centre + support) - start + 1;
  const weights = new Float64Array(count);
  let sum = 0;
  for (let i = 0; i < count; i++) {
    weights[i] = cubic((start + i - centre) / scale);
    sum += weights[i];
  }
  for (let i = 0; i < count; i++) weights[i] /= sum;
  void size;
  return { start, weights };
}

const clampIndex = (i: number, size: number) => (i < 0 ? 0 : i >= size ? size - 1 : i);
const toByte = (v: number) => (v <= 0 ? 0 : v >= 255 ? 255 : Math.round(v));

/** Taps are applied four at a time (a sample's taps padded with zero weights to a multiple of 4). */
const GROUP = 4;

/** The taps of output samples [first, first + outputs) along one axis, source indices clamped to the edge. */
interface TapTable {
  outputs: number;
  /** Taps per output sample, a multiple of GROUP. */
  count: number;
  index: Int32Array;
  weight: Float64Array;
  /** The source samples they read: [lowest, highest]. */
  lowest: number;
  highest: number;
}

/**
 * The taps of output samples [first, first + outputs) of a resize by `factor` (each sample's taps as if
 * the whole axis were resized), flat, `count` a sample, so the passes below are plain multiply-adds
 * with the weights in registers. Padding taps have weight 0 on a valid index: + 0 * pixel leaves a sum unchanged.
 */
function tapTable(first: number, outputs: number, factor: number, inSize: number): TapTable {
  const all = Array.from({ length: outputs }, (_, o) => taps(first + o, factor, inSize));
  const count = GROUP * Math.ceil(Math.max(...all.map((t) => t.weights.length)) / GROUP);
  const index = new Int32Array(outputs * count);
  const weight = new Float64Array(outputs * count);
  let lowest = inSize;
  let highest = 0;
  for (let o = 0; o < outputs; o++) {
    const { start, weights } = all[o];
    for (let t = 0; t < count; t++) {
      const i = clampIndex(start + Math.min(t, weights.length - 1), inSize);
      index[o * count + t] = i;
      weight[o * count + t] = t < weights.length ? weights[t] : 0;
      lowest = Math.min(lowest, i);
      highest = Math.max(highest, i);
    }
  }
  return { outputs, count, index, weight, lowest, highest };
}

/*
 * The two passes compute each output value as the sum of weight x pixel over its taps in tap order,
 * from 0, in float64, then rounded to a byte: the same operations in the same order as the direct
 * formula (JavaScript adds left to right), so the bytes do not depend on how the loops are arranged.
 * Each output sample's taps are applied a group at a time to all the values that share them: a row
 * of the image for the vertical pass, a column for the horizontal one. RGB, 3 bytes a pixel.
 */

/** Vertical pass: the rows of `table` from an image `width` px wide, only its columns [x0, x1). */
function passY(src: Uint8Array, width: number, table: TapTable, x0: number, x1: number): Uint8Array {
  const { outputs, count, index, weight } = table;
  const rowLength = width * 3;
  const from = x0 * 3;
  const values = (x1 - x0) * 3;
  const out = new Uint8Array(outputs * values);
  const sums = new Float64Array(values);
  for (let o = 0; o < outputs; o++) {
    sums.fill(0);
    for (let g = o * count; g < (o + 1) * count; g += GROUP) {
      const w0 = weight[g];
      const w1 = weight[g + 1];
      const w2 = weight[g + 2];
      const w3 = weight[g + 3];
      const t0 = index[g] * rowLength + from;
      const t1 = index[g + 1] * rowLength + from;
      const t2 = index[g + 2] * rowLength + from;
      const t3 = index[g + 3] * rowLength + from;
      for (let k = 0; k < values; k++) sums[k] = sums[k] + w0 * src[t0 + k] + w1 * src[t1 + k] + w2 * src[t2 + k] + w3 * src[t3 + k];
    }
    const to = o * values;
    for (let k = 0; k < values; k++) out[to + k] = toByte(sums[k]);
  }
  return out;
}

/** Horizontal pass: the columns of `table` from `height` rows `width` px wide whose first column is column `x0` of the axis. */
function passX(src: Uint8Array, width: number, height: number, table: TapTable, x0: number): Uint8Array {
  const { outputs, count, index, weight } = table;
  const rowLength = width * 3;
  const out = new Uint8Array(height * outputs * 3);
  const sums = new Float64Array(height * 3);
  for (let o = 0; o < outputs; o++) {
    sums.fill(0);
    for (let g = o * count; g < (o + 1) * count; g += GROUP) {
      const w0 = weight[g];
      const w1 = weight[g + 1];
      const w2 = weight[g + 2];
      const w3 = weight[g + 3];
      const t0 = (index[g] - x0) * 3;
      const t1 = (index[g + 1] - x0) * 3;
      const t2 = (index[g + 2] - x0) * 3;
      const t3 = (index[g + 3] - x0) * 3;
      for (let j = 0, k = 0; j < height * 3; j += 3, k += rowLength) {
        sums[j] = sums[j] + w0 * src[t0 + k] + w1 * src[t1 + k] + w2 * src[t2 + k] + w3 * src[t3 + k];
        sums[j + 1] = sums[j + 1] + w0 * src[t0 + k + 1] + w1 * src[t1 + k + 1] + w2 * src[t2 + k + 1] + w3 * src[t3 + k + 1];
        sums[j + 2] = sums[j + 2] + w0 * src[t0 + k + 2] + w1 * src[t1 + k + 2] + w2 * src[t2 + k + 2] + w3 * src[t3 + k + 2];
      }
    }
    for (let y = 0; y < height; y++) {
      const to = (y * outputs + o) * 3;
      out[to] = toByte(sums[3 * y]);
      out[to + 1] = toByte(sums[3 * y + 1]);
      out[to + 2] = toByte(sums[3 * y + 2]);
    }
  }
  return out;
}

/** byte / 255 as float32, for every byte. */
const UNIT = Float32Array.from({ length: 256 }, (_, byte) => byte / 255);

/**
 * Decoded pixels (row-major, interleaved, `channels` 3 or 4; alpha is dropped) -> the model input:
 * CHW RGB floats in [0, 1] at `target.inputSize`, resized as sharp's `resize(w, h, { fit, kernel: 'cubic' })`.
 */
export function resizeForModel(pixels: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number, target: ResizeTarget): { data: Float32Array; height: number; width: number } {
  const [outH, outW] = target.inputSize;
  // Only read from here on, so RGB bytes are used as they are.
  let rgb: Uint8Array;
  if (channels === 3 && pixels instanceof Uint8Array) rgb = pixels;
  else {
    rgb = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = pixels[i * channels + c];
  }
  // Sizes before the crop: 'cover' scales both axes by the larger factor, like sharp.
  let resizedW = outW;
  let resizedH = outH;
  if (target.resize === 'center-crop') {
    const scale = Math.max(outW / width, outH / height);
    resizedW = Math.max(outW, Math.round(width * scale));
    resizedH = Math.max(outH, Math.round(height * scale));
  }
  let w = width;
  let h = height;
  const fx = w / resizedW;
  const fy = h / resizedH;
  const shrinkX = Math.max(1, Math.floor(fx / 2));
  const shrinkY = Math.max(1, Math.floor(fy / 2));
  if (shrinkX > 1 || shrinkY > 1) ({ data: rgb, width: w, height: h } = boxShrink(rgb, w, h, 3, shrinkX, shrinkY));
  // The centre crop (as sharp's 'centre' gravity rounds it) is known before the passes, so they compute
  // only the rows and columns it keeps, each from the taps it has in the whole resized image.
  const top = Math.floor((resizedH - outH + 1) / 2);
  const left = Math.floor((resizedW - outW + 1) / 2);
  const columns = w !== resizedW ? tapTable(left, outW, w / resizedW, w) : undefined;
  // The source columns the kept columns read, [x0, x1).
  const x0 = columns ? columns.lowest : left;
  const x1 = columns ? columns.highest + 1 : left + outW;
  let rows: Uint8Array;
  if (h !== resizedH) rows = passY(rgb, w, tapTable(top, outH, h / resizedH, h), x0, x1);
  else {
    rows = new Uint8Array(outH * (x1 - x0) * 3);
    for (let y = 0; y < outH; y++) rows.set(rgb.subarray(((y + top) * w + x0) * 3, ((y + top) * w + x1) * 3), y * (x1 - x0) * 3);
  }
  const resized = columns ? passX(rows, x1 - x0, outH, columns, x0) : rows;
  const plane = outW * outH;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    data[i] = UNIT[resized[3 * i]];
    data[plane + i] = UNIT[resized[3 * i + 1]];
    data[2 * plane + i] = UNIT[resized[3 * i + 2]];
  }
  return { data, height: outH, width: outW };
}
