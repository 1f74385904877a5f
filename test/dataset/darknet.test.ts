/**
 * The scan on the real darknet-tiny and real ImageNet photos: batched scan numbers equal one-image
 * probes, class filters rank their own class first, and examples are written for a class filter.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { createThumbnailStore, writeFilterExamples } from '../../pipeline/dataset/examples.js';
import { listDataset } from '../../pipeline/dataset/list.js';
import { scanDataset, type ScanResult } from '../../pipeline/dataset/scan.js';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine } from '../../pipeline/engine/engine.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { probeImage } from '../../pipeline/probe/probe.js';

const FILES = [
  'n01440764_tench.JPEG',
  'n01443537_goldfish.JPEG',
  'n02012849_crane.JPEG',
  'n02087394_Rhodesian_ridgeback.JPEG',
  'n03126707_crane.JPEG',
  'n04335435_streetcar.JPEG',
  'n07583066_guacamole.JPEG',
];
const CONFIDENT = ['n01440764_tench.JPEG', 'n02012849_crane.JPEG', 'n04335435_streetcar.JPEG'];

describe('scanDataset on darknet-tiny', () => {
  let model: CnnModel;
  let engine: Engine;
  let scan: ScanResult;
  let folder: string;

  beforeAll(async () => {
    model = await loadModel('darknet-tiny');
    engine = await createEngine(model, { engine: 'ort' });
    const dataset = await listDataset(await ensureAsset('imagenet-sample'));
    const images = dataset.images.filter((image) => FILES.includes(image.file));
    scan = await scanDataset(engine, model, { layers: ['conv2d_16', 'leaky_re_lu_5'], images, batchSize: 4, topK: 3 });
    folder = await mkdtemp(join(tmpdir(), 'fa-darknet-'));
  });
  afterAll(async () => {
    await engine?.dispose();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('gives the same per-image means as a one-image probe', async () => {
    expect(scan.images.map((i) => i.file)).toEqual(FILES);
    const [classes, early] = scan.layers;
    expect([classes.channels, classes.height, classes.width, early.channels, early.height]).toEqual([1000, 14, 14, 16, 56]);
    for (const index of [0, 5]) {
      for (const layer of [classes, early]) {
        const probe = await probeImage(engine, model, scan.images[index].path, layer.layer, 1);
        const row = Array.from(layer.means.subarray(index * layer.channels, (index + 1) * layer.channels));
        const scale = Math.max(...probe.means.map(Math.abs));
        for (let c = 0; c < layer.channels; c++) expect(Math.abs(row[c] - probe.means[c])).toBeLessThan(1e-4 * scale);
      }
    }
  });

  it('ranks each confident photo first for its class filter, and writes its examples', async () => {
    const classes = scan.layers[0];
    for (const file of CONFIDENT) {
      const filter = model.labelWnids!.indexOf(file.slice(0, 9));
      expect(scan.images[classes.top[filter][0]].file, file).toBe(file);
      expect(classes.stats[filter].max).toBeGreaterThanOrEqual(classes.max[FILES.indexOf(file) * 1000 + filter]);
    }
    const tench = model.labelWnids!.indexOf('n01440764');
    const examples = await writeFilterExamples({
      atlasDir: folder,
      subdir: 'examples/conv2d_16',
      model,
      images: scan.images,
      layer: classes,
      filter: tench,
      thumbnails: createThumbnailStore(folder, 'thumbs'),
    });
    expect(examples.top[0]).toMatchObject({ file: 'n01440764_tench.JPEG', label: 'tench', classIndex: 0, crop: `examples/conv2d_16/${tench}-0.webp` });
    expect(examples.labels[0]).toEqual({ label: examples.top[0].label, count: 1 });
    // Field 134 of 224 input px, centre crop of a 500 x 375 photo (scale 224/375): a 224 px square, shrunk to 128.
    const crop = await sharp(join(folder, examples.top[0].crop)).metadata();
    expect([crop.width, crop.height]).toEqual([128, 128]);
  });
});
