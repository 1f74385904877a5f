/**
 * A dataset folder with the files real folders contain: truncated JPEGs, text files named .jpg,
 * a grayscale PNG, a 16x16 image and an 8000 px photo. The scan must finish, skip exactly the
 * unreadable files with the decoder's reason, and the examples must be written for the odd ones.
 */
import { readFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { listDataset } from '../../pipeline/dataset/list.js';
import { scanDataset } from '../../pipeline/dataset/scan.js';
import { createThumbnailStore, writeFilterExamples } from '../../pipeline/dataset/examples.js';
import { fakeEngine, fakeModel } from './fake.js';

let folder: string;

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'fa-robust-'));
  const photos = await ensureAsset('photos');
  const rocket = await readFile(join(photos, 'rocket.jpg'));
  // Several bad files decoded together: libvips shares one error buffer between threads (see scan.ts).
  for (const name of ['corrupt.jpg', 'corrupt2.jpg', 'corrupt3.jpg']) await writeFile(join(folder, name), rocket.subarray(0, Math.floor(rocket.length / 3)));
  for (const name of ['text.jpg', 'text2.jpg']) await writeFile(join(folder, name), 'this is not a photo\n');
  await sharp(join(photos, 'chelsea.png')).grayscale().toColourspace('b-w').png().toFile(join(folder, 'gray.png'));
  await sharp(rocket).resize(16, 16, { fit: 'fill' }).png().toFile(join(folder, 'tiny.png'));
  // 8000 x 6000 with some structure (a gradient), so decoding does real work.
  const gradient = Buffer.alloc(256 * 192 * 3);
  for (let i = 0; i < 256 * 192; i++) gradient.set([i % 256, (i >> 8) % 256, 90], i * 3);
  await sharp(gradient, { raw: { width: 256, height: 192, channels: 3 } })
    .resize(8000, 6000, { kernel: 'nearest' })
    .jpeg({ quality: 70 })
    .toFile(join(folder, 'huge.jpg'));
});
afterAll(() => rm(folder, { recursive: true, force: true }));

describe('scan of a messy dataset folder', () => {
  it('scans the readable images, lists exactly the unreadable ones, and writes their examples', async () => {
    expect((await sharp(join(folder, 'gray.png')).metadata()).channels).toBe(1);
    const dataset = await listDataset(folder);
    expect(dataset.images.map((i) => i.file)).toEqual(['corrupt.jpg', 'corrupt2.jpg', 'corrupt3.jpg', 'gray.png', 'huge.jpg', 'text.jpg', 'text2.jpg', 'tiny.png']);

    // Activation: the mean of the red input channel, peaking at the image centre, so every image has a value.
    const engine = fakeEngine((id, layer) => {
      const out = new Float32Array(3 * 16 * 16).fill(id / 255);
      if (layer === 'c2') out[8 * 16 + 8] = 2;
      return out;
    });
    // One batch of 8: the five bad files fail in the same decode round, where libvips mixes their messages.
    const scan = await scanDataset(engine, fakeModel(), { layers: ['c2'], images: dataset.images, batchSize: 8, topK: 5 });
    expect(engine.calls.map((call) => call.n)).toEqual([3]);
    expect(scan.images.map((i) => i.file)).toEqual(['gray.png', 'huge.jpg', 'tiny.png']);
    const truncated = 'VipsJpeg: premature end of JPEG image';
    const notImage = 'Input file contains unsupported image format';
    expect(scan.skipped).toEqual([
      { file: 'corrupt.jpg', reason: truncated },
      { file: 'corrupt2.jpg', reason: truncated },
      { file: 'corrupt3.jpg', reason: truncated },
      { file: 'text.jpg', reason: notImage },
      { file: 'text2.jpg', reason: notImage },
    ]);

    const atlas = join(folder, 'atlas');
    const examples = await writeFilterExamples({
      atlasDir: atlas,
      subdir: 'examples',
      model: fakeModel(),
      images: scan.images,
      layer: scan.layers[0],
      filter: 0,
      thumbnails: createThumbnailStore(atlas, 'thumbs'),
    });
    expect(examples.top).toHaveLength(3);
    const sizes = Object.fromEntries(
      await Promise.all(
        examples.top.map(async (t) => {
          const crop = await sharp(join(atlas, t.crop)).metadata();
          const thumb = await sharp(join(atlas, t.thumb)).metadata();
          return [t.file, [crop.width, crop.height, thumb.width, thumb.height]];
        }),
      ),
    );
    // Field 8 of 32 input px (stretch) = a quarter of each side: 113 x 75 of chelsea's 451 x 300, 2000 x 1500 of
    // the huge photo, 4 x 4 of the tiny one (enlarged); thumbnails fit 128 px and never enlarge.
    expect(sizes).toEqual({
      'gray.png': [128, 85, 128, 85],
      'huge.jpg': [128, 96, 128, 96],
      'tiny.png': [128, 128, 16, 16],
    });
  });
});
