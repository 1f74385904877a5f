import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listDataset, type DatasetImage } from '../../pipeline/dataset/list.js';
import { scanDataset } from '../../pipeline/dataset/scan.js';
import { topIndicesByMean } from '../../pipeline/dataset/topk.js';
import { fakeEngine, fakeModel, writeIdImage, type ActivationOf } from './fake.js';

const IDS = [11, 12, 13, 14, 15, 16];
const C2 = { channels: 3, size: 16 };

// c2: constant `base` everywhere except one peak; c1: constant, so argmax is the first cell.
const base = (id: number, c: number) => ((id * (c + 1)) % 7) - 2;
const peak = (id: number, c: number) => base(id, c) + 10 + (id % 5) * (c + 1);
const peakAt = (id: number, c: number) => ({ y: (id * 3 + c) % 16, x: (id * 5 + c * 7) % 16 });
const c1Value = (id: number, c: number) => (id - 13) * (c + 1) * 0.5;

const activation: ActivationOf = (id, layer) => {
  if (layer === 'c1') {
    const out = new Float32Array(4 * 32 * 32);
    for (let c = 0; c < 4; c++) out.fill(c1Value(id, c), c * 1024, (c + 1) * 1024);
    return out;
  }
  const plane = C2.size * C2.size;
  const out = new Float32Array(C2.channels * plane);
  for (let c = 0; c < C2.channels; c++) {
    out.fill(base(id, c), c * plane, (c + 1) * plane);
    const { y, x } = peakAt(id, c);
    out[c * plane + y * C2.size + x] = peak(id, c);
  }
  return out;
};

let folder: string;
let images: DatasetImage[];

beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'fa-scan-'));
  for (const [i, id] of IDS.entries()) await writeIdImage(folder, `img${i}.png`, id);
  images = (await listDataset(folder)).images;
});
afterAll(() => rm(folder, { recursive: true, force: true }));

describe('scanDataset with a fake engine', () => {
  it('computes means, max, argmax, stats and top-k from one forward call per batch', async () => {
    const engine = fakeEngine(activation);
    const result = await scanDataset(engine, fakeModel(), { layers: ['c2', 'c1'], images, batchSize: 4, topK: 3 });
    expect(engine.calls).toEqual([
      { n: 4, layers: ['c2', 'c1'] },
      { n: 2, layers: ['c2', 'c1'] },
    ]);
    expect(result.images.map((i) => i.file)).toEqual(IDS.map((_, i) => `img${i}.png`));
    expect(result.skipped).toEqual([]);

    const c2 = result.layers[0];
    expect([c2.layer, c2.channels, c2.height, c2.width]).toEqual(['c2', 3, 16, 16]);
    for (const [n, id] of IDS.entries()) {
      for (let c = 0; c < 3; c++) {
        const cell = n * 3 + c;
        expect(c2.means[cell]).toBeCloseTo((255 * base(id, c) + peak(id, c)) / 256, 5);
        expect(c2.max[cell]).toBe(peak(id, c));
        const { y, x } = peakAt(id, c);
        expect(c2.argmax[cell]).toBe(y * 16 + x);
      }
    }
    for (let c = 0; c < 3; c++) {
      const means = IDS.map((id) => (255 * base(id, c) + peak(id, c)) / 256);
      const mean = means.reduce((a, b) => a + b) / means.length;
      const std = Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / means.length);
      expect(c2.stats[c].mean).toBeCloseTo(mean, 5);
      expect(c2.stats[c].std).toBeCloseTo(std, 5);
      expect(c2.stats[c].max).toBe(Math.max(...IDS.map((id) => peak(id, c))));
      expect(c2.stats[c].activeFraction).toBe(1);
      const expectedTop = IDS.map((id, n) => ({ n, mean: means[n] }))
        .sort((a, b) => b.mean - a.mean || a.n - b.n)
        .slice(0, 3)
        .map((e) => e.n);
      expect(Array.from(c2.top[c])).toEqual(expectedTop);
    }

    const c1 = result.layers[1];
    for (let c = 0; c < 4; c++) {
      // values (id - 13) * (c + 1) / 2 for ids 11..16: three of six images (14, 15, 16) are above zero.
      expect(c1.stats[c].activeFraction).toBeCloseTo(3 / 6, 6);
      expect(c1.argmax[c]).toBe(0);
      expect(Array.from(c1.top[c])).toEqual([5, 4, 3]);
    }
  });

  it('gives the same numbers whatever the batch size', async () => {
    const runs = await Promise.all(
      [1, 5, 16].map((batchSize) => scanDataset(fakeEngine(activation), fakeModel(), { layers: ['c2'], images, batchSize, topK: 6 })),
    );
    for (const run of runs.slice(1)) {
      expect(run.layers[0].means).toEqual(runs[0].layers[0].means);
      expect(run.layers[0].argmax).toEqual(runs[0].layers[0].argmax);
      expect(run.layers[0].top).toEqual(runs[0].layers[0].top);
    }
  });

  it('skips unreadable files, keeps batches full and indexes top-k into the scanned images', async () => {
    const broken = await mkdtemp(join(tmpdir(), 'fa-scan-bad-'));
    try {
      for (const [i, id] of IDS.entries()) await writeIdImage(broken, `img${i}.png`, id);
      await writeFile(join(broken, 'img2b.jpg'), 'not an image\n');
      const list = (await listDataset(broken)).images;
      expect(list.map((i) => i.file)).toContain('img2b.jpg');
      const engine = fakeEngine(activation);
      const progress: number[] = [];
      const result = await scanDataset(engine, fakeModel(), {
        layers: ['c2'],
        images: list,
        batchSize: 2,
        topK: 6,
        onProgress: (p) => progress.push(p.done),
      });
      expect(result.skipped).toEqual([{ file: 'img2b.jpg', reason: 'Input file contains unsupported image format' }]);
      expect(engine.calls.map((call) => call.n)).toEqual([2, 2, 2]);
      expect(result.images.map((i) => i.file)).toEqual(IDS.map((_, i) => `img${i}.png`));
      expect(progress.at(-1)).toBe(7);
      const clean = await scanDataset(fakeEngine(activation), fakeModel(), { layers: ['c2'], images, topK: 6 });
      expect(result.layers[0].means).toEqual(clean.layers[0].means);
      expect(result.layers[0].top).toEqual(clean.layers[0].top);
    } finally {
      await rm(broken, { recursive: true, force: true });
    }
  });

  it('stops at the next batch when aborted', async () => {
    const controller = new AbortController();
    const engine = fakeEngine(activation);
    const scan = scanDataset(engine, fakeModel(), {
      layers: ['c2'],
      images,
      batchSize: 2,
      signal: controller.signal,
      onProgress: () => controller.abort(),
    });
    await expect(scan).rejects.toMatchObject({ name: 'AbortError' });
    expect(engine.calls).toHaveLength(1);
  });

  it('names the existing layers when a layer is unknown, and fails when nothing is readable', async () => {
    await expect(scanDataset(fakeEngine(activation), fakeModel(), { layers: ['conv9'], images })).rejects.toThrow(
      'layer "conv9": expected a layer name, alias or # index (0-2) of the model, received no such layer. It has "c1", "pool", "c2", "2", ... `filter-atlas layers <model>` lists all 3.',
    );
    const bogus: DatasetImage[] = [{ file: 'missing.png', path: join(folder, 'missing.png') }];
    await expect(scanDataset(fakeEngine(activation), fakeModel(), { layers: ['c2'], images: bogus })).rejects.toThrow(
      /^dataset scan: expected at least one readable image, received 1 unreadable images, e.g. missing\.png \(/,
    );
  });
});

describe('topIndicesByMean', () => {
  it('matches a full sort (descending, ties to the earlier row) on random data', () => {
    let seed = 1;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const rows = 200;
    const channels = 7;
    // Quantised values so ties occur.
    const values = Float32Array.from({ length: rows * channels }, () => Math.round(random() * 40) / 4);
    const top = topIndicesByMean(values, rows, channels, 12);
    for (let c = 0; c < channels; c++) {
      const expected = Array.from({ length: rows }, (_, r) => r)
        .sort((a, b) => values[b * channels + c] - values[a * channels + c] || a - b)
        .slice(0, 12);
      expect(Array.from(top[c])).toEqual(expected);
    }
    expect(topIndicesByMean(values, 3, channels, 12)[0]).toHaveLength(3);
  });
});
