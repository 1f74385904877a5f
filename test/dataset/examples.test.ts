import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { topImageSchema } from '../../pipeline/schema/atlas.js';
import { cropBox, clampSpan, type CropGeometry } from '../../pipeline/dataset/crop.js';
import { createThumbnailStore, labelHistogram, renderCrop, writeExamples, writeFilterExamples, type ExamplesRequest, type FilterExamples } from '../../pipeline/dataset/examples.js';
import type { DatasetImage } from '../../pipeline/dataset/list.js';
import type { LayerScan } from '../../pipeline/dataset/scan.js';
import { receptiveField } from '../../pipeline/model/layers.js';
import { fakeModel } from './fake.js';

const stretch = { inputSize: [32, 32] as [number, number], resize: 'stretch' as const };

function geometry(overrides: Partial<CropGeometry>): CropGeometry {
  return { y: 5, x: 10, gridHeight: 16, gridWidth: 16, receptiveField: 8, preprocessing: stretch, imageWidth: 400, imageHeight: 300, ...overrides };
}

describe('crop geometry', () => {
  it('uses the receptive field of the fake model layer', () => {
    expect(receptiveField(fakeModel().graph, 'c2')).toEqual({ size: 8, jump: 2, global: false });
  });

  it('maps a grid unit to its receptive field in the original photo (stretch)', () => {
    // centre (11, 21) in input pixels, field 8 -> input y [7, 15), x [17, 25); scale x 12.5, y 9.375.
    expect(cropBox(geometry({}))).toEqual({ left: 213, top: 66, width: 100, height: 75 });
  });

  it('maps through a centre crop (sharp cover): the region is square in the photo', () => {
    // scale 32/300, 5.33 input px cut on each side horizontally.
    expect(cropBox(geometry({ preprocessing: { ...stretch, resize: 'center-crop' } }))).toEqual({ left: 209, top: 66, width: 75, height: 75 });
  });

  it('shifts a field that sticks out back inside the photo, keeping its size', () => {
    expect(cropBox(geometry({ y: 0, x: 0 }))).toEqual({ left: 0, top: 0, width: 100, height: 75 });
    expect(cropBox(geometry({ y: 15, x: 15 }))).toEqual({ left: 300, top: 225, width: 100, height: 75 });
  });

  it('uses the whole photo when the field is larger than the input, and never less than a pixel', () => {
    expect(cropBox(geometry({ receptiveField: 500, imageWidth: 16, imageHeight: 16 }))).toEqual({ left: 0, top: 0, width: 16, height: 16 });
    expect(clampSpan(3.2, 3.3, 10)).toEqual([3, 1]);
    expect(clampSpan(-5, 50, 10)).toEqual([0, 10]);
  });
});

describe('labelHistogram', () => {
  it('counts labels, most frequent first, ties in rank order, unlabelled images ignored', () => {
    expect(labelHistogram([{ label: 'b' }, { label: 'a' }, {}, { label: 'a' }, { label: 'c' }, { label: 'b' }, { label: 'a' }])).toEqual([
      { label: 'a', count: 3 },
      { label: 'b', count: 2 },
      { label: 'c', count: 1 },
    ]);
  });
});

describe('writeFilterExamples', () => {
  let folder: string;
  let images: DatasetImage[];
  const RED = { r: 255, g: 0, b: 0 };
  const GREY = { r: 128, g: 128, b: 128 };

  async function photo(path: string, width: number, height: number, square: { left: number; top: number; width: number; height: number }) {
    const red = await sharp({ create: { width: square.width, height: square.height, channels: 3, background: RED } }).png().toBuffer();
    return sharp({ create: { width, height, channels: 3, background: GREY } }).composite([{ input: red, left: square.left, top: square.top }]).png().toBuffer().then((b) => sharp(b).toFile(path));
  }

  async function pixel(buffer: Buffer, x: number, y: number): Promise<number[]> {
    const { data, info } = await sharp(buffer).raw().toBuffer({ resolveWithObject: true });
    const at = (y * info.width + x) * info.channels;
    return [data[at], data[at + 1], data[at + 2]];
  }

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fa-examples-'));
    // Landscape photo: red square inside the field of unit (5, 10) = box x [213, 313), y [66, 141).
    await photo(join(folder, 'land.png'), 400, 300, { left: 220, top: 70, width: 80, height: 65 });
    // Portrait content (300 x 400) stored rotated with EXIF orientation 6: the crop must use the upright photo.
    // Unit (5, 10) of the upright photo = box x [159, 234), y [88, 188).
    const upright = join(folder, 'upright.png');
    await photo(upright, 300, 400, { left: 170, top: 100, width: 55, height: 75 });
    await sharp(upright).rotate(270).withMetadata({ orientation: 6 }).jpeg({ quality: 95 }).toFile(join(folder, 'rotated.jpg'));
    images = [
      { file: 'land.png', path: join(folder, 'land.png'), label: 'square', classIndex: 3 },
      { file: 'rotated.jpg', path: join(folder, 'rotated.jpg'), label: 'square', classIndex: 3 },
    ];
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  // A hand-made scan: 2 images x 2 channels; both images' max at unit (5, 10).
  const unit = 5 * 16 + 10;
  const layer: LayerScan = {
    layer: 'c2',
    channels: 2,
    height: 16,
    width: 16,
    means: Float32Array.from([1, 4, 2, 3]),
    max: Float32Array.from([5, 8, 6, 7]),
    argmax: Uint32Array.from([unit, unit, unit, unit]),
    stats: [],
    top: [Int32Array.from([1, 0]), Int32Array.from([0, 1])],
  };

  it('writes crops of the most active region (after EXIF orientation) and one shared thumbnail per image', async () => {
    const atlas = join(folder, 'atlas');
    const thumbnails = createThumbnailStore(atlas, 'thumbs');
    const common = { atlasDir: atlas, subdir: 'examples/c2', model: fakeModel(), images, layer, thumbnails };
    const [first, second] = await Promise.all([writeFilterExamples({ ...common, filter: 0 }), writeFilterExamples({ ...common, filter: 1 })]);

    expect(first.top.map((t) => [t.file, t.mean, t.max, t.crop, t.thumb])).toEqual([
      ['rotated.jpg', 2, 6, 'examples/c2/0-0.webp', 'thumbs/rotated.jpg.webp'],
      ['land.png', 1, 5, 'examples/c2/0-1.webp', 'thumbs/land.png.webp'],
    ]);
    expect(first.top[0].at).toEqual({ y: 5, x: 10, height: 16, width: 16 });
    for (const entry of [...first.top, ...second.top]) expect(topImageSchema.parse(entry)).toEqual(entry);
    expect(first.labels).toEqual([{ label: 'square', count: 2 }]);
    expect((await readdir(join(atlas, 'thumbs'))).sort()).toEqual(['land.png.webp', 'rotated.jpg.webp']);
    expect(second.top.map((t) => t.thumb)).toEqual(['thumbs/land.png.webp', 'thumbs/rotated.jpg.webp']);

    // Landscape crop: 100 x 75 px of the photo, enlarged to 128 x 96; red in the middle, grey at the corner.
    const land = await sharp(join(atlas, 'examples/c2/0-1.webp')).toBuffer();
    expect(await sharp(land).metadata()).toMatchObject({ width: 128, height: 96, format: 'webp' });
    expectColour(await pixel(land, 64, 48), RED);
    expectColour(await pixel(land, 3, 3), GREY);
    // Rotated photo: upright crop 75 x 100 -> 96 x 128; red centre, grey corner.
    const rotated = await sharp(join(atlas, 'examples/c2/0-0.webp')).toBuffer();
    expect(await sharp(rotated).metadata()).toMatchObject({ width: 96, height: 128 });
    expectColour(await pixel(rotated, 48, 64), RED);
    expectColour(await pixel(rotated, 3, 3), GREY);
    // Thumbnail of the rotated photo is upright (portrait) and at most 128 px.
    expect(await sharp(join(atlas, 'thumbs/rotated.jpg.webp')).metadata()).toMatchObject({ width: 96, height: 128 });
  });

  it('refuses a filter outside the layer', async () => {
    const thumbnails = createThumbnailStore(join(folder, 'atlas2'), 'thumbs');
    await expect(writeFilterExamples({ atlasDir: join(folder, 'atlas2'), subdir: 'x', model: fakeModel(), images, layer, thumbnails, filter: 2 })).rejects.toThrow(
      'filter 2 is outside layer c2 (0..1)',
    );
  });
});

describe('writeExamples', () => {
  let folder: string;
  let images: DatasetImage[];

  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fa-examples-grouped-'));
    // Every kind of photo the one-decode path meets, and one (16-bit) it leaves to renderCrop.
    const noise = (channels: 1 | 3 | 4, width = 120, height = 90) =>
      sharp(Buffer.from(Array.from({ length: width * height * channels }, (_, i) => (i * 37 + (i >> 5) * 11) % 256)), { raw: { width, height, channels } });
    const kinds: Array<[string, () => Promise<unknown>]> = [
      ['rgb.png', () => noise(3).png().toFile(join(folder, 'rgb.png'))],
      ['rotated.jpg', () => noise(3, 90, 120).withMetadata({ orientation: 6 }).jpeg({ quality: 90 }).toFile(join(folder, 'rotated.jpg'))],
      ['grey.jpg', () => noise(1).jpeg().toFile(join(folder, 'grey.jpg'))],
      ['alpha.png', () => noise(4).png().toFile(join(folder, 'alpha.png'))],
      ['p3.jpg', () => noise(3).withIccProfile('p3').jpeg().toFile(join(folder, 'p3.jpg'))],
      ['cmyk.jpg', () => noise(3).toColourspace('cmyk').jpeg().toFile(join(folder, 'cmyk.jpg'))],
      ['deep.png', () => noise(3).toColourspace('rgb16').png().toFile(join(folder, 'deep.png'))],
    ];
    for (const [, make] of kinds) await make();
    images = kinds.map(([file]) => ({ file, path: join(folder, file) }));
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  it('cuts every crop from one decode per photo, byte-identical to renderCrop of the file', async () => {
    const count = images.length;
    const channels = 3;
    // Overlapping top lists over the photos; maxima at other units per (image, channel).
    const argmax = Uint32Array.from({ length: count * channels }, (_, cell) => (cell * 53) % 256);
    const layer: LayerScan = {
      layer: 'c2',
      channels,
      height: 16,
      width: 16,
      means: Float32Array.from({ length: count * channels }, (_, i) => i / 2),
      max: Float32Array.from({ length: count * channels }, (_, i) => i),
      argmax,
      stats: [],
      top: [Int32Array.from([6, 1, 2, 3, 0]), Int32Array.from([5, 4, 3, 2, 1, 0, 6]), Int32Array.from([])],
    };
    const atlas = join(folder, 'atlas');
    const thumbnails = createThumbnailStore(atlas, 'thumbs');
    const requests: ExamplesRequest[] = [0, 1, 2].map((filter) => ({ subdir: 'examples/c2', layer, filter }));
    const finished: Array<[number, FilterExamples]> = [];
    const results = await writeExamples({ atlasDir: atlas, model: fakeModel(), images, thumbnails, filters: requests, onFilter: async (request, examples) => void finished.push([request.filter, examples]) });

    expect(finished.map(([filter]) => filter).sort()).toEqual([0, 1, 2]);
    for (const [filter, examples] of finished) expect(examples).toBe(results[filter]);
    expect(results[2]).toEqual({ top: [], labels: [] });
    const model = fakeModel();
    for (const [filter, { top }] of results.entries()) {
      expect(top.map((t) => t.file)).toEqual(Array.from(layer.top[filter], (i) => images[i].file));
      for (const [rank, entry] of top.entries()) {
        expect(entry.crop).toBe(`examples/c2/${filter}-${rank}.webp`);
        const image = images[layer.top[filter][rank]];
        const meta = await sharp(image.path).metadata();
        const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
        const box = cropBox({ y: entry.at.y, x: entry.at.x, gridHeight: 16, gridWidth: 16, receptiveField: 8, preprocessing: model.preprocessing, imageWidth: oriented.width, imageHeight: oriented.height });
        expect(Buffer.compare(await readFile(join(atlas, entry.crop)), await renderCrop(image.path, box)), `${image.file} (filter ${filter}, rank ${rank})`).toBe(0);
      }
    }
    expect((await readdir(join(atlas, 'thumbs'))).sort()).toEqual(images.map((i) => `${i.file}.webp`).sort());
  });

  it('writes a box that several filters share (cut once) to each of their files, byte-identical to renderCrop', async () => {
    const count = images.length;
    const channels = 3;
    // Every filter's maximum at the same unit of each image: all filters share each photo's box.
    const layer: LayerScan = {
      layer: 'c2',
      channels,
      height: 16,
      width: 16,
      means: Float32Array.from({ length: count * channels }, (_, i) => i / 2),
      max: Float32Array.from({ length: count * channels }, (_, i) => i),
      argmax: Uint32Array.from({ length: count * channels }, (_, cell) => Math.floor(cell / channels) * 37 % 256),
      stats: [],
      top: [Int32Array.from([0, 1, 2]), Int32Array.from([2, 1, 0]), Int32Array.from([1, 3])],
    };
    const atlas = join(folder, 'shared-boxes');
    const requests: ExamplesRequest[] = [0, 1, 2].map((filter) => ({ subdir: 'examples/c2', layer, filter }));
    const results = await writeExamples({ atlasDir: atlas, model: fakeModel(), images, thumbnails: createThumbnailStore(atlas, 'thumbs'), filters: requests });
    const model = fakeModel();
    const byPhoto = new Map<string, Buffer>();
    for (const [filter, { top }] of results.entries()) {
      for (const [rank, entry] of top.entries()) {
        const image = images[layer.top[filter][rank]];
        const meta = await sharp(image.path).metadata();
        const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
        const box = cropBox({ y: entry.at.y, x: entry.at.x, gridHeight: 16, gridWidth: 16, receptiveField: 8, preprocessing: model.preprocessing, imageWidth: oriented.width, imageHeight: oriented.height });
        const bytes = await readFile(join(atlas, entry.crop));
        expect(Buffer.compare(bytes, await renderCrop(image.path, box)), `${image.file} (filter ${filter}, rank ${rank})`).toBe(0);
        const earlier = byPhoto.get(image.file);
        if (earlier) expect(Buffer.compare(bytes, earlier), `${image.file}: the same box, the same bytes`).toBe(0);
        byPhoto.set(image.file, bytes);
      }
    }
    expect(byPhoto.size).toBe(4);
  });
});

function expectColour(actual: number[], expected: { r: number; g: number; b: number }) {
  const distance = Math.max(Math.abs(actual[0] - expected.r), Math.abs(actual[1] - expected.g), Math.abs(actual[2] - expected.b));
  expect(distance, `pixel ${actual} vs ${JSON.stringify(expected)}`).toBeLessThan(40);
}
