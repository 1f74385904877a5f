/**
 * Build stage: connected filters. For a filter j of a visualised layer L and every channel i of the
 * previous visualised layer K that L reads, the attribution
 *     A[j, i] = mean over images of  sum over space of  activation_K[i] * d(mean activation_L[j]) / d activation_K[i]
 * (engine.attribution with a one-hot objective on j). Positive: channel i pushes filter j up on
 * those images; negative: it holds it down. Read the other way, A[., i] says which filters of L
 * channel i feeds.
 *
 * Which images: each filter's own top-k dataset images (the scan's top lists), not a fixed subset.
 * One backward pass per (filter, image), so the cost is filters x images; top-k keeps it at the
 * examples' k per filter (README "Connected filters" has the measured cost: a fixed subset of 64
 * images would be 7x that for the default atlas), and they are the images on which the filter
 * is active: on a random image most filters are near zero and so is every product.
 *
 * One keyed record per filter (resumable); rows of (image, filter) pairs are batched, grouped by
 * image (rowsByImage): in one engine run (engine.rowAttribution) each image's forward pass runs
 * once and the backward pass once per row. Rows are what `batchSize` counts.
 */
import type { Engine } from '../engine/engine.js';
import { loadImageForModel, type RgbImage } from '../image/load.js';
import type { ModelImageLoader } from '../image/input-cache.js';
import type { CnnModel } from '../model/graph.js';
import { ancestors } from '../model/layers.js';
import type { DatasetImage } from '../dataset/list.js';
import type { Progress } from '../util/progress.js';
import { connectionsKey } from './keys.js';
import { connectionsRecordSchema, type ConnectionsRecord, type ScanRecord } from './records.js';
import { GroupCommits, type AtlasStore } from './store.js';

export interface LayerPair {
  /** The later layer L and the previous visualised layer K it reads. */
  layer: string;
  from: string;
}

/** Each visualised layer with the latest earlier visualised layer it depends on (none for the first). */
export function layerPairs(model: CnnModel, layers: readonly { name: string }[]): LayerPair[] {
  // By position in the graph, found by name (a layer's node object may come from a sized copy).
  const position = new Map(model.graph.nodes.map((node, i) => [node.name, i]));
  const ordered = [...layers].sort((a, b) => (position.get(a.name) ?? -1) - (position.get(b.name) ?? -1));
  const pairs: LayerPair[] = [];
  for (const [i, layer] of ordered.entries()) {
    const reads = ancestors(model.graph, layer.name);
    const from = ordered.slice(0, i).reverse().find((k) => reads.has(k.name));
    if (from) pairs.push({ layer: layer.name, from: from.name });
  }
  return pairs;
}

export interface ConnectionsStageInput {
  model: CnnModel;
  engine: Engine;
  store: AtlasStore;
  scan: ScanRecord;
  scanKey: string;
  /** The scanned images, in scan order (the scan record's indices point here). */
  images: readonly DatasetImage[];
  pairs: readonly LayerPair[];
  /** Layer -> the visualised filters that get connections. */
  filters: Map<string, number[]>;
  batchSize: number;
  signal?: AbortSignal;
  progress?: (label: string, total: number) => Progress;
  /** How a photo is decoded for the model: the build's ModelInputCache reuses the scan's decodes. */
  loadImage?: ModelImageLoader;
}

export interface ConnectionsStageOutput {
  /** `${layer}` -> filter -> record. */
  records: Map<string, Map<number, ConnectionsRecord>>;
  /** Every record's key (a shard's manifest lists them for `merge`). */
  keys: Array<{ layer: string; filter: number; key: string }>;
  computed: number;
  seconds: number;
}

interface Row {
  filter: number;
  image: number;
}

export async function runConnections(input: ConnectionsStageInput): Promise<ConnectionsStageOutput> {
  const started = performance.now();
  const { engine, store, scan, model } = input;
  const records = new Map<string, Map<number, ConnectionsRecord>>();
  const keys: ConnectionsStageOutput['keys'] = [];
  let computed = 0;
  const decoded = new Map<number, Promise<RgbImage>>();
  const pixels = (image: number) => {
    let found = decoded.get(image);
    if (!found) {
      found = (input.loadImage ?? loadImageForModel)(input.images[image].path, model.preprocessing);
      decoded.set(image, found);
    }
    return found;
  };
  // Records are made durable in group commits beside the engine's next runs, and all of them before
  // the stage returns (a stage that fails loses at most the records of its last few runs).
  const commits = new GroupCommits(store);
  for (const pair of input.pairs) {
    const layerScan = scan.layers.find((l) => l.layer === pair.layer);
    const perFilter = new Map<number, ConnectionsRecord>();
    records.set(pair.layer, perFilter);
    if (!layerScan) continue;
    const todo: { filter: number; key: string; images: number[] }[] = [];
    for (const filter of input.filters.get(pair.layer) ?? []) {
      const images = (layerScan.top[filter] ?? []).map((t) => t.image);
      if (images.length === 0) continue; // non-finite channel: no top images, nothing to attribute
      const key = connectionsKey({ scan: input.scanKey, layer: pair.layer, filter, from: pair.from, images: images.length, engine: engine.info });
      keys.push({ layer: pair.layer, filter, key });
      const record = await store.readComplete(key, connectionsRecordSchema, () => []);
      if (record && record.filter === filter && record.from === pair.from) perFilter.set(filter, record);
      else todo.push({ filter, key, images });
    }
    if (todo.length === 0) continue;
    const progress = input.progress?.(`connections ${pair.from} -> ${pair.layer}`, todo.length);
    const rows = rowsByImage(todo);
    const lastRow = new Map(rows.map((row, i) => [row.image, i]));
    const sums = new Map<number, { values: Float64Array; rows: number; seconds: number }>();
    const pending = new Map(todo.map((t) => [t.filter, t]));
    let fromChannels = 0;
    for (let at = 0; at < rows.length; at += input.batchSize) {
      input.signal?.throwIfAborted();
      const batch = rows.slice(at, at + input.batchSize);
      // Each image once: its forward pass is shared by its rows (engine.rowAttribution).
      const batchImages = [...new Set(batch.map((row) => row.image))];
      const slot = new Map(batchImages.map((image, n) => [image, n]));
      const loaded = await Promise.all(batchImages.map(pixels));
      const [height, width] = [loaded[0].height, loaded[0].width];
      const plane = 3 * height * width;
      const data = new Float32Array(loaded.length * plane);
      loaded.forEach((image, n) => data.set(image.data, n * plane));
      const weights = new Float32Array(batch.length * layerScan.channels);
      batch.forEach((row, n) => (weights[n * layerScan.channels + row.filter] = 1));
      const rowImages = Int32Array.from(batch, (row) => slot.get(row.image)!);
      const t0 = performance.now();
      const { attribution } = await engine.rowAttribution({ data, n: loaded.length, height, width }, pair.layer, weights, pair.from, rowImages);
      const share = (performance.now() - t0) / 1000 / batch.length;
      fromChannels = attribution.length / batch.length;
      for (const [n, row] of batch.entries()) {
        let sum = sums.get(row.filter);
        if (!sum) sums.set(row.filter, (sum = { values: new Float64Array(fromChannels), rows: 0, seconds: 0 }));
        for (let i = 0; i < fromChannels; i++) sum.values[i] += attribution[n * fromChannels + i];
        sum.rows++;
        sum.seconds += share;
        const task = pending.get(row.filter)!;
        if (sum.rows === task.images.length) {
          const record: ConnectionsRecord = {
            layer: pair.layer,
            filter: row.filter,
            from: pair.from,
            images: task.images,
            values: Array.from(sum.values, (v) => v / sum!.rows),
            seconds: sum.seconds,
          };
          commits.add(task.key, record);
          perFilter.set(row.filter, record);
          sums.delete(row.filter);
          pending.delete(row.filter);
          computed++;
          progress?.tick();
        }
      }
      // Rows are grouped by image: an image whose last row has run is not needed again.
      for (const image of batchImages) if (lastRow.get(image)! < at + batch.length) decoded.delete(image);
    }
    progress?.stop();
    decoded.clear();
  }
  await commits.flush();
  return { records, keys, computed, seconds: (performance.now() - started) / 1000 };
}

/**
 * The (filter, image) rows grouped by image: ~9 filters list each image of the default atlas, and
 * the rows of one image in one engine run share its forward pass. Images
 * come in the order of the first filter that lists them, so the first filters' records complete
 * (and are written, for resume) early instead of all at the end.
 */
export function rowsByImage(todo: readonly { filter: number; images: readonly number[] }[]): Row[] {
  const filtersOf = new Map<number, number[]>();
  for (const { filter, images } of todo) {
    for (const image of images) {
      const filters = filtersOf.get(image);
      if (filters) filters.push(filter);
      else filtersOf.set(image, [filter]);
    }
  }
  const rows: Row[] = [];
  for (const { images } of todo) {
    for (const image of images) {
      const filters = filtersOf.get(image);
      if (!filters) continue; // placed already, with the first filter that lists it
      filtersOf.delete(image);
      for (const filter of filters) rows.push({ filter, image });
    }
  }
  return rows;
}

/** The `count` largest positive and most negative entries of values, among `allowed` indices. */
export function strongest(values: readonly number[], allowed: ReadonlySet<number> | undefined, count: number): { positive: { filter: number; value: number }[]; negative: { filter: number; value: number }[] } {
  const entries = values.map((value, filter) => ({ filter, value })).filter((e) => Number.isFinite(e.value) && (!allowed || allowed.has(e.filter)));
  return {
    positive: entries.filter((e) => e.value > 0).sort((a, b) => b.value - a.value || a.filter - b.filter).slice(0, count),
    negative: entries.filter((e) => e.value < 0).sort((a, b) => a.value - b.value || a.filter - b.filter).slice(0, count),
  };
}
