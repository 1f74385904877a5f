/**
 * The connections stage on the real darknet-tiny and real ImageNet photos: grouped by image
 * (engine.rowAttribution: each image's forward pass once, the backward pass per row), every filter's
 * values equal the per-row computation the stage did before (one attribution row per (filter,
 * image), each row with its own copy of the image) within float rounding; a second run reads the
 * records instead of computing.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { rowsByImage, runConnections, type LayerPair } from '../../pipeline/atlas/stage-connections.js';
import type { ScanRecord } from '../../pipeline/atlas/records.js';
import { AtlasStore } from '../../pipeline/atlas/store.js';
import { listDataset, type DatasetImage } from '../../pipeline/dataset/list.js';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine } from '../../pipeline/engine/engine.js';
import { loadImageForModel } from '../../pipeline/image/load.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { graphAtSize } from '../../pipeline/model/sized.js';

const PAIRS: LayerPair[] = [
  { layer: 'leaky_re_lu_10', from: 'leaky_re_lu_6' },
  { layer: 'conv2d_16', from: 'leaky_re_lu_10' },
];
const IMAGES = 10;
const FILTERS = [0, 3, 5, 7, 11, 12];
/** Each filter's top images: 4 of the 10 photos, overlapping between filters as a scan's top lists do. */
const topOf = (filter: number) => [0, 1, 2, 3].map((k) => (filter * 3 + k * 4) % IMAGES);

describe('connections stage on darknet-tiny', () => {
  let model: CnnModel;
  let engine: Engine;
  let images: DatasetImage[];
  let folder: string;
  let scan: ScanRecord;

  beforeAll(async () => {
    model = await loadModel('darknet-tiny');
    engine = await createEngine(model, { engine: 'ort', threads: 1 });
    images = (await listDataset(await ensureAsset('imagenet-sample'))).images.slice(0, IMAGES);
    folder = await mkdtemp(join(tmpdir(), 'filter-atlas-connections-'));
    const sized = graphAtSize(model, model.preprocessing.inputSize);
    scan = {
      key: 'scan-test',
      images: images.map((i) => i.file),
      skipped: [],
      seconds: 0,
      layers: PAIRS.map(({ layer }) => {
        const [channels, height, width] = sized.shapes.get(layer)!.dims;
        const top = Array.from({ length: channels }, (_, filter) => (FILTERS.includes(filter) ? topOf(filter).map((image) => ({ image, mean: 0, max: 0, argmax: 0 })) : []));
        return { layer, channels, height, width, means: 'unused', stats: [], top };
      }),
    };
  }, 120_000);

  afterAll(async () => {
    await engine?.dispose();
    if (folder) await rm(folder, { recursive: true, force: true });
  });

  it('groups rows by image, images in the order of the first filter that lists them', () => {
    const rows = rowsByImage([
      { filter: 4, images: [2, 0] },
      { filter: 1, images: [0, 5] },
      { filter: 9, images: [5, 2] },
    ]);
    expect(rows).toEqual([
      { filter: 4, image: 2 },
      { filter: 9, image: 2 },
      { filter: 4, image: 0 },
      { filter: 1, image: 0 },
      { filter: 1, image: 5 },
      { filter: 9, image: 5 },
    ]);
  });

  it('equals the per-row attribution of every (filter, image) within float rounding', async () => {
    const store = new AtlasStore(folder);
    const filters = new Map(PAIRS.map((p) => [p.layer, FILTERS]));
    // batchSize 5: an image's rows are cut across two runs sometimes, and runs hold several images.
    const run = () => runConnections({ model, engine, store, scan, scanKey: scan.key, images, pairs: PAIRS, filters, batchSize: 5 });
    const output = await run();
    expect(output.computed).toBe(PAIRS.length * FILTERS.length);

    const decoded = await Promise.all(images.map((image) => loadImageForModel(image.path, model.preprocessing)));
    const [height, width] = [decoded[0].height, decoded[0].width];
    const plane = 3 * height * width;
    for (const pair of PAIRS) {
      const channels = scan.layers.find((l) => l.layer === pair.layer)!.channels;
      for (const filter of FILTERS) {
        // The stage before grouping: one row per image of the filter, each with its own copy of it.
        const top = topOf(filter);
        const data = new Float32Array(top.length * plane);
        top.forEach((image, n) => data.set(decoded[image].data, n * plane));
        const weights = new Float32Array(top.length * channels);
        top.forEach((_, n) => (weights[n * channels + filter] = 1));
        const { attribution } = await engine.attribution({ data, n: top.length, height, width }, pair.layer, weights, pair.from);
        const fromChannels = attribution.length / top.length;
        const expected = Array.from({ length: fromChannels }, (_, i) => top.reduce((sum, _, n) => sum + attribution[n * fromChannels + i], 0) / top.length);
        const record = output.records.get(pair.layer)!.get(filter)!;
        expect(record.images).toEqual(top);
        expect(record.values).toHaveLength(fromChannels);
        const scale = Math.max(...expected.map(Math.abs));
        expect(scale).toBeGreaterThan(0);
        const worst = Math.max(...record.values.map((v, i) => Math.abs(v - expected[i])));
        expect(worst / scale, `${pair.layer} filter ${filter}`).toBeLessThan(1e-5);
      }
    }

    const again = await run();
    expect(again.computed).toBe(0);
    expect(again.records.get('conv2d_16')!.get(FILTERS[0])!.values).toEqual(output.records.get('conv2d_16')!.get(FILTERS[0])!.values);
  }, 300_000);
});
