/**
 * The model-input resize (pipeline/image/resize.ts), which the CLI and the in-browser probe share:
 * its distance from sharp's cubic resize, which the CLI used before, on real photos, and its geometry.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { resizeForModel } from '../../pipeline/image/resize.js';
import { ensureAsset } from '../../pipeline/assets/index.js';

describe('resizeForModel', () => {
  it('stays within a fraction of a grey level of sharp on average (centre crop to 224)', async () => {
    const photos = await ensureAsset('photos');
    for (const name of ['chelsea.png', 'astronaut.png', 'coffee.png', 'rocket.jpg']) {
      const file = join(photos, name);
      const ref = await sharp(file).removeAlpha().resize(224, 224, { fit: 'cover', kernel: 'cubic' }).raw().toBuffer();
      const { data, info } = await sharp(file).removeAlpha().raw().toBuffer({ resolveWithObject: true });
      const mine = resizeForModel(data, info.width, info.height, info.channels, { inputSize: [224, 224], resize: 'center-crop' });
      let sum = 0;
      const plane = 224 * 224;
      for (let i = 0; i < plane; i++) for (let c = 0; c < 3; c++) sum += Math.abs(mine.data[c * plane + i] * 255 - ref[i * 3 + c]);
      expect(sum / (3 * plane), name).toBeLessThan(0.5);
    }
  });

  it('equals the direct formula, value for value, whatever the loops compute first (crops, shrinks, stretches, RGBA)', () => {
    // The resize written as plainly as possible: every output byte summed over its taps in tap order.
    const cubic = (x: number) => {
      const a = Math.abs(x);
      return a < 1 ? 1.5 * a ** 3 - 2.5 * a ** 2 + 1 : a < 2 ? -0.5 * a ** 3 + 2.5 * a ** 2 - 4 * a + 2 : 0;
    };
    const pass = (src: Uint8Array, w: number, h: number, axis: 'x' | 'y', outSize: number): Uint8Array => {
      const inSize = axis === 'x' ? w : h;
      const factor = inSize / outSize;
      const [ow, oh] = axis === 'x' ? [outSize, h] : [w, outSize];
      const out = new Uint8Array(ow * oh * 3);
      for (let o = 0; o < outSize; o++) {
        const scale = Math.max(1, factor);
        const centre = (o + 0.5) * factor - 0.5;
        const start = Math.floor(centre - 2 * scale) + 1;
        const weights = Array.from({ length: Math.ceil(centre + 2 * scale) - start + 1 }, (_, i) => cubic((start + i - centre) / scale));
        const total = weights.reduce((sum, weight) => sum + weight, 0);
        const normalised = weights.map((weight) => weight / total);
        for (let p = 0; p < (axis === 'x' ? h : w); p++) {
          for (let c = 0; c < 3; c++) {
            let sum = 0;
            normalised.forEach((weight, t) => {
              const i = Math.min(inSize - 1, Math.max(0, start + t));
              sum += weight * src[(axis === 'x' ? p * w + i : i * w + p) * 3 + c];
            });
            out[((axis === 'x' ? p * ow + o : o * ow + p) * 3) + c] = sum <= 0 ? 0 : sum >= 255 ? 255 : Math.round(sum);
          }
        }
      }
      return out;
    };
    const reference = (pixels: Uint8Array, width: number, height: number, channels: number, [outH, outW]: [number, number], resize: 'stretch' | 'center-crop') => {
      let rgb: Uint8Array = Uint8Array.from({ length: width * height * 3 }, (_, i) => pixels[Math.floor(i / 3) * channels + (i % 3)]);
      const scale = Math.max(outW / width, outH / height);
      const [rw, rh] = resize === 'center-crop' ? [Math.max(outW, Math.round(width * scale)), Math.max(outH, Math.round(height * scale))] : [outW, outH];
      let [w, h] = [width, height];
      const [sx, sy] = [Math.max(1, Math.floor(w / rw / 2)), Math.max(1, Math.floor(h / rh / 2))];
      if (sx > 1 || sy > 1) {
        const [bw, bh] = [Math.floor(w / sx), Math.floor(h / sy)];
        const shrunk = new Uint8Array(bw * bh * 3);
        for (let y = 0; y < bh; y++)
          for (let x = 0; x < bw; x++)
            for (let c = 0; c < 3; c++) {
              let sum = 0;
              for (let j = 0; j < sy; j++) for (let i = 0; i < sx; i++) sum += rgb[((y * sy + j) * w + x * sx + i) * 3 + c];
              shrunk[(y * bw + x) * 3 + c] = Math.floor((sum + (sx * sy) / 2) / (sx * sy));
            }
        [rgb, w, h] = [shrunk, bw, bh];
      }
      if (h !== rh) [rgb, h] = [pass(rgb, w, h, 'y', rh), rh];
      if (w !== rw) [rgb, w] = [pass(rgb, w, h, 'x', rw), rw];
      const [left, top] = [Math.floor((w - outW + 1) / 2), Math.floor((h - outH + 1) / 2)];
      const data = new Float32Array(3 * outH * outW);
      for (let y = 0; y < outH; y++) for (let x = 0; x < outW; x++) for (let c = 0; c < 3; c++) data[c * outH * outW + y * outW + x] = rgb[((y + top) * w + x + left) * 3 + c] / 255;
      return data;
    };
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const cases: Array<[number, number, number, [number, number], 'stretch' | 'center-crop']> = [
      [61, 47, 3, [24, 24], 'center-crop'],
      [47, 61, 4, [24, 24], 'center-crop'],
      [130, 37, 3, [9, 14], 'stretch'],
      [20, 16, 3, [33, 41], 'stretch'],
      [40, 30, 4, [30, 40], 'center-crop'],
      [33, 33, 3, [16, 16], 'center-crop'],
    ];
    for (const [width, height, channels, size, resize] of cases) {
      const pixels = Uint8Array.from({ length: width * height * channels }, () => Math.floor(random() * 256));
      const mine = resizeForModel(pixels, width, height, channels, { inputSize: size, resize });
      expect(Array.from(mine.data), `${width}x${height}x${channels} -> ${size.join('x')} ${resize}`).toEqual(Array.from(reference(pixels, width, height, channels, size, resize)));
    }
  });

  it('keeps a constant image constant and stretches to any size', () => {
    const pixels = new Uint8Array(40 * 30 * 4).fill(200);
    const out = resizeForModel(pixels, 40, 30, 4, { inputSize: [7, 11], resize: 'stretch' });
    expect(out.data.length).toBe(3 * 7 * 11);
    for (const v of out.data) expect(v).toBeCloseTo(200 / 255, 6);
  });
});
