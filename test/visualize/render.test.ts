import { Writable } from 'node:stream';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { decodeRgb, encodePng, encodeWebImages, toInterleavedBytes, toRgbBytes, WEB_IMAGES } from '../../pipeline/render/images.js';
import { createProgress, formatDuration } from '../../pipeline/util/progress.js';

function gradientImage(height: number, width: number) {
  const data = new Float32Array(3 * height * width);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      data[y * width + x] = x / (width - 1);
      data[height * width + y * width + x] = y / (height - 1);
      data[2 * height * width + y * width + x] = ((x + y) % 7) / 6;
    }
  return { data, height, width };
}

describe('image encoding', () => {
  it('writes lossless RGB PNGs that decode to the rounded, clipped pixels', async () => {
    const image = gradientImage(9, 13);
    image.data[0] = -0.2; // clipped to 0
    image.data[1] = 1.7; // clipped to 255
    image.data[2] = Number.NaN; // never garbage: 0
    const png = await encodePng(image);
    const { data, info } = await sharp(png).raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height, info.channels]).toEqual([13, 9, 3]);
    expect(data.equals(toInterleavedBytes(image))).toBe(true);
    expect([data[0], data[3], data[6]]).toEqual([0, 255, 0]);
    expect(data[3 * 12]).toBe(255); // red = x / 12 at x = 12
    const metadata = await sharp(png).metadata();
    expect(metadata.exif).toBeUndefined();
    expect(metadata.icc).toBeUndefined();
  });

  it('gives identical bytes for identical pixels (PNG and WebP), from floats or from their bytes', async () => {
    const image = gradientImage(40, 30);
    expect((await encodePng(image)).equals(await encodePng(gradientImage(40, 30)))).toBe(true);
    expect((await encodePng(toRgbBytes(image))).equals(await encodePng(image))).toBe(true);
    const web = await encodeWebImages(toRgbBytes(image));
    const again = await encodeWebImages(toRgbBytes(gradientImage(40, 30)));
    expect([web.full.equals(again.full), web.thumb1x.equals(again.thumb1x)]).toEqual([true, true]);
  });

  it('makes the same web images from the picture in memory as from its PNG (the one thumbnail pipeline)', async () => {
    const image = gradientImage(300, 270);
    const fromMemory = await encodeWebImages(toRgbBytes(image));
    const fromPng = await encodeWebImages(await decodeRgb(await encodePng(image)));
    expect(fromMemory.full.equals(fromPng.full)).toBe(true);
    expect(fromMemory.thumb1x.equals(fromPng.thumb1x)).toBe(true);
    expect(fromMemory.thumb2x!.equals(fromPng.thumb2x!)).toBe(true);
  });

  it('makes WebP thumbnails whose longer side is 1x and 2x the tile size, never enlarged, and no 2x one for a small picture', async () => {
    const large = await encodeWebImages(toRgbBytes(gradientImage(300, 270)));
    const sizes = async (webp: Buffer) => {
      const { format, width, height } = await sharp(webp).metadata();
      return [format, width, height];
    };
    expect(await sizes(large.full)).toEqual(['webp', 270, 300]);
    expect(await sizes(large.thumb1x)).toEqual(['webp', Math.round((WEB_IMAGES.thumbSize * 270) / 300), WEB_IMAGES.thumbSize]);
    expect(await sizes(large.thumb2x!)).toEqual(['webp', Math.round((2 * WEB_IMAGES.thumbSize * 270) / 300), 2 * WEB_IMAGES.thumbSize]);
    const small = await encodeWebImages(toRgbBytes(gradientImage(100, 100)));
    expect([await sizes(small.thumb1x), small.thumb2x]).toEqual([['webp', 100, 100], undefined]);
  });
});

class Capture extends Writable {
  text = '';
  constructor(readonly isTTY: boolean) {
    super();
  }
  override _write(chunk: Buffer, _encoding: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

describe('progress', () => {
  it('prints plain lines at most every interval when stderr is not a terminal', () => {
    const stream = new Capture(false);
    let clock = 0;
    const progress = createProgress('visualize', 10, { stream, intervalMs: 5000, now: () => clock });
    clock = 1000;
    progress.tick(); // too soon: no line
    clock = 6000;
    progress.tick(2); // 3 done in 6 s
    progress.log('filter 4 is dead');
    clock = 20_000;
    progress.tick(7);
    progress.stop();
    progress.stop();
    expect(stream.text).toBe(
      'visualize: 3/10 (30%), 2.0s each, ETA 14s\n' +
        'visualize: filter 4 is dead\n' +
        'visualize: 10/10 (100%), 2.0s each\n' +
        'visualize: 10/10 done in 20s\n',
    );
  });

  it('estimates the time left from the work left, so a costly layer ahead is not missed', () => {
    // 160 cheap filters (1 unit each) done in 16 s; 40 filters of 20 units each are still ahead.
    const stream = new Capture(false);
    let clock = 0;
    const progress = createProgress('filters', 200, { stream, intervalMs: 0, now: () => clock, work: 160 + 40 * 20 });
    clock = 16_000;
    progress.tick(160, 160);
    // Items alone would say 40 x 0.1 s = 4 s; the work left says 800 units at 10 units/s.
    expect(stream.text).toBe('filters: 160/200 (80%), 10.0/s, ETA 1m20s\n');
  });

  it('leaves reused items out of the rate and the ETA', () => {
    const stream = new Capture(false);
    let clock = 0;
    const progress = createProgress('filters', 100, { stream, intervalMs: 0, now: () => clock });
    progress.skip(90);
    clock = 5000;
    progress.tick(5);
    expect(stream.text).toBe('filters: 95/100 (95%), 1.0/s, ETA 5s\n');
  });

  it('draws a bar with done/total on a terminal', () => {
    const stream = new Capture(true);
    const progress = createProgress('scan', 4, { stream });
    progress.tick(4);
    progress.log('hello');
    progress.stop();
    expect(stream.text).toContain('4/4');
    expect(stream.text).toContain('hello');
  });

  it('formats durations', () => {
    expect([formatDuration(5.4), formatDuration(125), formatDuration(7322), formatDuration(Number.NaN)]).toEqual(['5s', '2m05s', '2h02m', '?']);
  });
});
