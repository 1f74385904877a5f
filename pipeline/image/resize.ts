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
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let j = 0; j < fy; j++) for (let i = 0; i < fx; i++) sum += src[((y * fy + j) * width + (x * fx + i)) * channels + c];
        out[(y * w + x) * channels + c] = Math.floor((sum + n / 2) / n);
      }
    }
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

/** One separable pass along y (vertical) or x, from `inSize` to `outSize` samples, 8-bit in and out. */
function reduce(src: Uint8Array, width: number, height: number, channels: number, axis: 'x' | 'y', outSize: number, factor: number): Uint8Array {
  const [w, h] = axis === 'x' ? [outSize, height] : [width, outSize];
  const out = new Uint8Array(w * h * channels);
  const inSize = axis === 'x' ? width : height;
  for (let o = 0; o < outSize; o++) {
    const { start, weights } = taps(o, factor, inSize);
    const other = axis === 'x' ? height : width;
    for (let p = 0; p < other; p++) {
      for (let c = 0; c < channels; c++) {
        let sum = 0;
        for (let t = 0; t < weights.length; t++) {
          const i = clampIndex(start + t, inSize);
          const index = axis === 'x' ? (p * width + i) * channels + c : (i * width + p) * channels + c;
          sum += weights[t] * src[index];
        }
        const at = axis === 'x' ? (p * w + o) * channels + c : (o * w + p) * channels + c;
        out[at] = toByte(sum);
      }
    }
  }
  return out;
}

/**
 * Decoded pixels (row-major, interleaved, `channels` 3 or 4; alpha is dropped) -> the model input:
 * CHW RGB floats in [0, 1] at `target.inputSize`, resized as sharp's `resize(w, h, { fit, kernel: 'cubic' })`.
 */
export function resizeForModel(pixels: Uint8Array | Uint8ClampedArray, width: number, height: number, channels: number, target: ResizeTarget): { data: Float32Array; height: number; width: number } {
  const [outH, outW] = target.inputSize;
  let rgb: Uint8Array = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) for (let c = 0; c < 3; c++) rgb[i * 3 + c] = pixels[i * channels + c];
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
  if (h !== resizedH) {
    rgb = reduce(rgb, w, h, 3, 'y', resizedH, h / resizedH);
    h = resizedH;
  }
  if (w !== resizedW) {
    rgb = reduce(rgb, w, h, 3, 'x', resizedW, w / resizedW);
    w = resizedW;
  }
  // Centre crop, as sharp's 'centre' gravity rounds it.
  const left = Math.floor((w - outW + 1) / 2);
  const top = Math.floor((h - outH + 1) / 2);
  const plane = outW * outH;
  const data = new Float32Array(3 * plane);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const from = ((y + top) * w + (x + left)) * 3;
      for (let c = 0; c < 3; c++) data[c * plane + y * outW + x] = rgb[from + c] / 255;
    }
  }
  return { data, height: outH, width: outW };
}
