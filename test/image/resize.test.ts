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

  it('keeps a constant image constant and stretches to any size', () => {
    const pixels = new Uint8Array(40 * 30 * 4).fill(200);
    const out = resizeForModel(pixels, 40, 30, 4, { inputSize: [7, 11], resize: 'stretch' });
    expect(out.data.length).toBe(3 * 7 * 11);
    for (const v of out.data) expect(v).toBeCloseTo(200 / 255, 6);
  });
});
