/**
 * Build stage 2: scan the dataset once for every atlas layer (one forward pass per batch), then
 * write each selected filter's top images. The scan and each filter's examples are keyed records,
 * so reruns reuse them; a scan interrupted midway starts over (it takes a minute or two).
 */
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { scanDataset, type LayerScan } from '../dataset/scan.js';
import type { ModelImageLoader } from '../image/input-cache.js';
import { createThumbnailStore, writeExamples, type ExamplesRequest } from '../dataset/examples.js';
import type { Dataset, DatasetImage } from '../dataset/list.js';
import { safeFileName } from '../util/file-names.js';
import type { Progress } from '../util/progress.js';
import { CODE_VERSIONS, filterExamplesKey, scanKey as keyOfScan } from './keys.js';
import { examplesFiles, examplesRecordSchema, scanFiles, scanRecordSchema, type FilterExamplesRecord, type LayerScanRecord, type ScanRecord } from './records.js';
import { GroupCommits, type AtlasStore } from './store.js';

export type { ScanRecord, FilterExamplesRecord };

export interface DatasetStageInput {
  model: CnnModel;
  engine: Engine;
  store: AtlasStore;
  dataset: Dataset;
  /** Layer name -> the filters that get examples. */
  layers: Map<string, number[]>;
  topK: number;
  batchSize: number;
  signal?: AbortSignal;
  progress?: (label: string, total: number) => Progress;
  /** How the scan decodes a photo for the model (image/input-cache.ts); default: loadImageForModel. */
  loadImage?: ModelImageLoader;
}

export interface DatasetStageOutput {
  scan: ScanRecord;
  /** Layer -> filter -> examples. */
  examples: Map<string, Map<number, FilterExamplesRecord>>;
  scanned: boolean;
}

/**
 * Photos whose crops are cut at once: decode + crop + encode in libvips, a few photos at once keep
 * both cores busy; each is held decoded while its crops are cut (bounded memory).
 */
const PHOTOS_AT_ONCE = 3;

async function runScan(input: DatasetStageInput, key: string): Promise<ScanRecord> {
  const layers = [...input.layers.keys()];
  const progress = input.progress?.('dataset scan', input.dataset.images.length);
  let reported = 0;
  const result = await scanDataset(input.engine, input.model, {
    layers,
    images: input.dataset.images,
    batchSize: input.batchSize,
    topK: input.topK,
    signal: input.signal,
    ...(input.loadImage ? { loadImage: input.loadImage } : {}),
    onProgress: ({ done }) => {
      progress?.tick(done - reported);
      reported = done;
    },
  });
  progress?.stop();
  const records: LayerScanRecord[] = [];
  for (const layer of result.layers) {
    const means = await input.store.writeFile(`files/${key}/${safeFileName(layer.layer)}.means.f32`, new Uint8Array(layer.means.buffer, layer.means.byteOffset, layer.means.byteLength));
    const top = layer.top.map((indices, filter) =>
      Array.from(indices, (image) => {
        const cell = image * layer.channels + filter;
        return { image, mean: layer.means[cell], max: layer.max[cell], argmax: layer.argmax[cell] };
      }),
    );
    // A channel with NaN or infinite activations (NaN weights, an overflow) has no statistics and no
    // top images to show: recorded as such (null, []), so the rest of the layer and the build go on.
    const finite = layer.stats.map((stats, filter) => Object.values(stats).every(Number.isFinite) && top[filter].every((t) => Number.isFinite(t.mean) && Number.isFinite(t.max)));
    records.push({
      layer: layer.layer,
      channels: layer.channels,
      height: layer.height,
      width: layer.width,
      means,
      stats: layer.stats.map((stats, filter) => (finite[filter] ? stats : null)),
      top: top.map((entries, filter) => (finite[filter] ? entries : [])),
    });
  }
  const record: ScanRecord = {
    key,
    images: result.images.map((image) => image.file),
    skipped: result.skipped,
    seconds: result.timing.seconds,
    layers: records,
  };
  await input.store.writeRecord(key, record);
  return record;
}

/** Rebuilds what writeExamples reads (top lists and their cells) from a stored scan record. */
function layerScanFromRecord(record: LayerScanRecord, imageCount: number): LayerScan {
  const size = imageCount * record.channels;
  const means = new Float32Array(size);
  const max = new Float32Array(size);
  const argmax = new Uint32Array(size);
  const top = record.top.map((entries, filter) => {
    for (const entry of entries) {
      const cell = entry.image * record.channels + filter;
      means[cell] = entry.mean;
      max[cell] = entry.max;
      argmax[cell] = entry.argmax;
    }
    return Int32Array.from(entries, (entry) => entry.image);
  });
  const stats = record.stats.map((s) => s ?? { mean: Number.NaN, std: Number.NaN, max: Number.NaN, activeFraction: Number.NaN });
  return { layer: record.layer, channels: record.channels, height: record.height, width: record.width, means, max, argmax, stats, top };
}

export async function runDatasetStage(input: DatasetStageInput): Promise<DatasetStageOutput> {
  const { model, store, dataset } = input;
  const scanKey = keyOfScan({
    weights: model.weightsDigest,
    preprocessing: model.preprocessing,
    dataset: dataset.digest,
    layers: [...input.layers.keys()],
    topK: input.topK,
    engine: input.engine.info,
  });
  const byFile = new Map<string, DatasetImage>(dataset.images.map((image) => [image.file, image]));
  let scan = await store.readComplete(scanKey, scanRecordSchema, scanFiles);
  // A record that names images this listing lacks cannot be joined with it: scan again.
  if (scan && (scan.key !== scanKey || scan.images.some((file) => !byFile.has(file)))) scan = undefined;
  const scanned = !scan;
  scan ??= await runScan(input, scanKey);

  const images = scan.images.map((file) => byFile.get(file)!);
  // One folder per examples code version: a new version's crops never overwrite the files that
  // records of an older one name (the thumbnail store trusts a file that exists).
  const folder = `files/${scanKey}/examples-${CODE_VERSIONS.examples}`;
  const thumbnails = createThumbnailStore(store.dir, `${folder}/thumbs`);
  const examples = new Map<string, Map<number, FilterExamplesRecord>>();
  const total = [...input.layers.values()].reduce((sum, filters) => sum + filters.length, 0);
  const progress = input.progress?.('dataset examples', total);
  // Filters whose records are there are reused; the others' crops are written photo by photo (each
  // photo decoded once for all the filters that list it), and each record as soon as its filter is done.
  const missing: Array<ExamplesRequest & { key: string; perFilter: Map<number, FilterExamplesRecord> }> = [];
  for (const layerRecord of scan.layers) {
    const perFilter = new Map<number, FilterExamplesRecord>();
    examples.set(layerRecord.layer, perFilter);
    const layerScan = layerScanFromRecord(layerRecord, images.length);
    for (const filter of input.layers.get(layerRecord.layer) ?? []) {
      input.signal?.throwIfAborted();
      // Labels from file names are newer than the records of such datasets: a key of their own.
      const key = filterExamplesKey(scanKey, layerRecord.layer, filter, dataset.labelSource === 'file-names');
      const record = await store.readComplete(key, examplesRecordSchema, examplesFiles);
      if (record) {
        perFilter.set(filter, record);
        // Reused: counted, but not part of the rate or the ETA (nor of the stage's computed items).
        progress?.skip(1);
      } else missing.push({ key, perFilter, subdir: `${folder}/${safeFileName(layerRecord.layer)}`, layer: layerScan, filter });
    }
  }
  const byRequest = new Map<ExamplesRequest, (typeof missing)[number]>(missing.map((m) => [m, m]));
  // Crops are flushed to the disk before the records that name them, in group commits (GroupCommits)
  // instead of one flush per crop; the photo tasks never wait for the disk.
  const commits = new GroupCommits(store, (count) => progress?.tick(count));
  try {
    await writeExamples({
      atlasDir: store.dir,
      model,
      images,
      thumbnails,
      filters: missing,
      photosAtOnce: PHOTOS_AT_ONCE,
      signal: input.signal,
      writeCrop: async (_request, relative, bytes) => {
        await commits.writeFile(relative, bytes);
      },
      onFilter: async (request, record) => {
        const { key, perFilter, filter } = byRequest.get(request)!;
        perFilter.set(filter, record);
        commits.add(key, record);
      },
    });
  } catch (error) {
    // The filters finished so far keep their records (a rerun resumes from them); the cause is thrown.
    await commits.flush().catch(() => undefined);
    throw error;
  }
  await commits.flush();
  progress?.stop();
  return { scan, examples, scanned };
}
