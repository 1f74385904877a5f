/**
 * Image transforms between scales, on planar float images (any number of H x W planes
 * back to back: a CHW image, or a whole NCHW batch). Each returns a new array.
 * They reproduce OpenCV, which the article calls: cv2.resize(INTER_CUBIC) and cv2.blur.
 */

export interface Planes {
  data: Float32Array;
  /** Number of H x W planes in data (channels x images). */
  planes: number;
  height: number;
  width: number;
}

/** OpenCV's cubic convolution kernel weights for a fractional offset t in [0, 1) (A = -0.75). */
export function cubicWeights(t: number): [number, number, number, number] {
  const A = -0.75;
  const w0 = ((A * (t + 1) - 5 * A) * (t + 1) + 8 * A) * (t + 1) - 4 * A;
  const w1 = ((A + 2) * t - (A + 3)) * t * t + 1;
  const w2 = ((A + 2) * (1 - t) - (A + 3)) * (1 - t) * (1 - t) + 1;
  return [w0, w1, w2, 1 - w0 - w1 - w2];
}

interface Taps {
  index: Int32Array; // 4 per output position, clamped to the source (BORDER_REPLICATE)
  weight: Float64Array;
}

/** Source taps for each output position: half-pixel centres, src = (dst + 0.5) * scale - 0.5. */
function cubicTaps(source: number, target: number): Taps {
  const scale = 1 / (target / source); // OpenCV: scale_x = 1. / inv_scale_x
  const index = new Int32Array(4 * target);
  const weight = new Float64Array(4 * target);
  for (let d = 0; d < target; d++) {
    const f = Math.fround((d + 0.5) * scale - 0.5); // OpenCV keeps this in float
    const s = Math.floor(f);
    const w = cubicWeights(Math.fround(f - s));
    for (let k = 0; k < 4; k++) {
      index[4 * d + k] = Math.min(source - 1, Math.max(0, s - 1 + k));
      weight[4 * d + k] = w[k];
    }
  }
  return { index, weight };
}

/** Bicubic resize matching cv2.resize(..., interpolation=cv2.INTER_CUBIC) on float images. */
export function resizeBicubic(image: Planes, height: number, width: number): Planes {
  const { data, planes, height: sh, width: sw } = image;
  const tx = cubicTaps(sw, width);
  const ty = cubicTaps(sh, height);
  const out = new Float32Array(planes * height * width);
  const rows = new Float64Array(sh * width); // one plane resized horizontally
  for (let p = 0; p < planes; p++) {
    const src = p * sh * sw;
    for (let y = 0; y < sh; y++) {
      const row = src + y * sw;
      for (let x = 0; x < width; x++) {
        const i = 4 * x;
        rows[y * width + x] =
          data[row + tx.index[i]] * tx.weight[i] +
          data[row + tx.index[i + 1]] * tx.weight[i + 1] +
          data[row + tx.index[i + 2]] * tx.weight[i + 2] +
          data[row + tx.index[i + 3]] * tx.weight[i + 3];
      }
    }
    const dst = p * height * width;
    for (let y = 0; y < height; y++) {
      const j = 4 * y;
      const r0 = ty.index[j] * width;
      const r1 = ty.index[j + 1] * width;
      const r2 = ty.index[j + 2] * width;
      const r3 = ty.index[j + 3] * width;
      const [w0, w1, w2, w3] = [ty.weight[j], ty.weight[j + 1], ty.weight[j + 2], ty.weight[j + 3]];
      for (let x = 0; x < width; x++) {
        out[dst + y * width + x] = rows[r0 + x] * w0 + rows[r1 + x] * w1 + rows[r2 + x] * w2 + rows[r3 + x] * w3;
      }
    }
  }
  return { data: out, planes, height, width };
}

/** OpenCV BORDER_REFLECT_101 (gfedcb|abcdefgh|gfedcba): the edge pixel is not repeated. */
export function reflect101(i: number, size: number): number {
  if (size === 1) return 0;
  const period = 2 * (size - 1);
  let j = ((i % period) + period) % period;
  if (j >= size) j = period - j;
  return j;
}

/** Normalised k x k box filter matching cv2.blur(img, (k, k)) with its default BORDER_REFLECT_101. */
export function boxBlur(image: Planes, k: number): Planes {
  const { data, planes, height, width } = image;
  if (k <= 1) return { ...image, data: data.slice() };
  const r = Math.floor(k / 2);
  const xs = new Int32Array(width + 2 * r).map((_, i) => reflect101(i - r, width));
  const ys = new Int32Array(height + 2 * r).map((_, i) => reflect101(i - r, height));
  const out = new Float32Array(data.length);
  const rows = new Float64Array(height * width); // horizontal sums of one plane
  const norm = 1 / (k * k);
  for (let p = 0; p < planes; p++) {
    const base = p * height * width;
    for (let y = 0; y < height; y++) {
      const row = base + y * width;
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let t = 0; t < k; t++) sum += data[row + xs[x + t]];
        rows[y * width + x] = sum;
      }
    }
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let t = 0; t < k; t++) sum += rows[ys[y + t] * width + x];
        out[base + y * width + x] = sum * norm;
      }
    }
  }
  return { data: out, planes, height, width };
}

/** Values clipped to [0, 1]. */
export function clip01(data: Float32Array): Float32Array {
  const out = new Float32Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    out[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
  return out;
}

/** Fraction of values outside [0, 1] (what clipping changes). */
export function clippedFraction(data: Float32Array): number {
  if (data.length === 0) return 0;
  let count = 0;
  for (let i = 0; i < data.length; i++) if (data[i] < 0 || data[i] > 1) count++;
  return count / data.length;
}
