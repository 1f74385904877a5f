import { describe, expect, it } from 'vitest';
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { loadImageForModel, type RgbImage } from '../../pipeline/image/load.js';
import { ModelInputCache, toExactBytes, type ModelImageLoader } from '../../pipeline/image/input-cache.js';

const preprocessing = { inputSize: [2, 2] as [number, number], resize: 'stretch' as const };
const image = (values: number[]): RgbImage => ({ data: Float32Array.from(values), height: 2, width: 2 });

/** A loader that counts its decodes and returns the image of the path. */
function counting(images: Record<string, RgbImage>): { load: ModelImageLoader; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    load: async (path) => {
      calls.push(path);
      return { ...images[path], data: images[path].data.slice() };
    },
  };
}

describe('ModelInputCache', () => {
  it('keeps every byte / 255 value exactly, and refuses values that are not one', () => {
    const all = Float32Array.from({ length: 256 }, (_, b) => b / 255);
    const bytes = toExactBytes(all)!;
    expect(Array.from(bytes)).toEqual(Array.from({ length: 256 }, (_, b) => b));
    expect(toExactBytes(Float32Array.of(0.5))).toBeUndefined();
    expect(toExactBytes(Float32Array.of(-1 / 255))).toBeUndefined();
    expect(toExactBytes(Float32Array.of(Number.NaN))).toBeUndefined();
  });

  it('decodes a photo once and hands back the same float32 values, a fresh array each time', async () => {
    const photo = image(Array.from({ length: 12 }, (_, i) => (i * 21) / 255));
    const { load, calls } = counting({ a: photo });
    const cache = new ModelInputCache(1024, load);
    const first = await cache.load('a', preprocessing);
    const second = await cache.load('a', preprocessing);
    expect(calls).toEqual(['a']);
    expect(cache.hits).toBe(1);
    expect(second.data).toEqual(photo.data);
    expect(second.data).not.toBe(first.data);
    second.data[0] = 7;
    expect((await cache.load('a', preprocessing)).data[0]).toBe(photo.data[0]);
    // Another size is another decode.
    await cache.load('a', { ...preprocessing, inputSize: [3, 3] });
    expect(calls).toEqual(['a', 'a']);
  });

  it('drops the least recently used past its bytes, and never keeps values it cannot restore exactly', async () => {
    const photos = { a: image(new Array(12).fill(1 / 255)), b: image(new Array(12).fill(2 / 255)), c: image(new Array(12).fill(3 / 255)), odd: image(new Array(12).fill(0.5)) };
    const { load, calls } = counting(photos);
    const cache = new ModelInputCache(24, load); // two photos of 12 bytes
    await cache.load('a', preprocessing);
    await cache.load('b', preprocessing);
    await cache.load('a', preprocessing); // a is now the most recent
    await cache.load('c', preprocessing); // b goes
    await cache.load('a', preprocessing);
    await cache.load('b', preprocessing);
    await cache.load('odd', preprocessing);
    await cache.load('odd', preprocessing);
    expect(calls).toEqual(['a', 'b', 'c', 'b', 'odd', 'odd']);
  });

  it('gives a real dataset photo the loader\'s exact values', async () => {
    const folder = resolve(process.env.FILTER_ATLAS_MIRROR ?? '../shared/assets', 'datasets/imagenet-sample');
    const file = readdirSync(folder).find((name) => name.endsWith('.JPEG'));
    if (!file) throw new Error(`no photo in ${folder}`);
    const model = { inputSize: [224, 224] as [number, number], resize: 'center-crop' as const };
    const cache = new ModelInputCache();
    const decoded = await cache.load(join(folder, file), model);
    const cached = await cache.load(join(folder, file), model);
    expect(cache.hits).toBe(1);
    expect(Buffer.from(cached.data.buffer).equals(Buffer.from((await loadImageForModel(join(folder, file), model)).data.buffer))).toBe(true);
    expect(Buffer.from(cached.data.buffer).equals(Buffer.from(decoded.data.buffer))).toBe(true);
  });
});
