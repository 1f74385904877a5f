/**
 * Dataset scan: forward every image once (batched, all layers from one forward call) and keep,
 * per layer, what the atlas needs: per image per channel mean, max and argmax, per filter
 * statistics, and the top-k images by mean. Feature maps are reduced batch by batch and dropped,
 * so memory is O(images x channels) per layer (12 bytes each: 12 MB for 1000 x 1000), never
 * O(images x feature map).
 */
import { userError } from '../errors.js';
import type { Engine, FeatureMaps, ImageBatch } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { ancestors, findLayer } from '../model/layers.js';
import { graphAtSize } from '../model/sized.js';
import { elementsOf } from '../model/shapes.js';
import { loadImageForModel, type RgbImage } from '../image/load.js';
import type { ModelImageLoader } from '../image/input-cache.js';
import { createByteBudget } from '../util/byte-budget.js';
import type { FilterStats } from '../schema/atlas.js';
import type { DatasetImage } from './list.js';
import { topIndicesByMean } from './topk.js';

export interface LayerScan {
  /** The layer name as requested. */
  layer: string;
  channels: number;
  /** The layer's grid at the model's input size. */
  height: number;
  width: number;
  /** Per scanned image per channel mean over space; images x channels, row-major (atlas `datasetMeans`). */
  means: Float32Array;
  /** Per scanned image per channel max over space; images x channels. */
  max: Float32Array;
  /** Where that max is: flat index y * width + x (first occurrence on ties); images x channels. */
  argmax: Uint32Array;
  /**
   * Per filter: mean and (population) std of the per-image means over the dataset, the highest
   * activation anywhere in the dataset (max over images of the spatial max: the value a
   * visualisation has to beat), and the fraction of images whose spatial max is above zero.
   */
  stats: FilterStats[];
  /** Per filter: indices into ScanResult.images of the top-k images by mean, best first. */
  top: Int32Array[];
}

export interface SkippedImage {
  file: string;
  reason: string;
}

export interface ScanResult {
  /** The images that were read and scanned, in scan order (atlas `dataset.images`). */
  images: DatasetImage[];
  /** Unreadable images, never fatal. */
  skipped: SkippedImage[];
  layers: LayerScan[];
  timing: {
    seconds: number;
    /** Time spent inside engine.forward. */
    forwardSeconds: number;
    /** Time the forward loop waited for decoding (what overlapping did not hide). */
    decodeWaitSeconds: number;
  };
}

export interface ScanProgress {
  done: number;
  total: number;
  skipped: number;
}

export interface ScanOptions {
  layers: readonly string[];
  images: readonly DatasetImage[];
  /** Images per forward call. @default 16 */
  batchSize?: number;
  /** Images kept per filter. @default 9 */
  topK?: number;
  signal?: AbortSignal;
  onProgress?: (progress: ScanProgress) => void;
  /** How a photo is decoded for the model: a build passes its ModelInputCache's, so later stages reuse the decode. */
  loadImage?: ModelImageLoader;
}

/**
 * Bytes of photo decodes in flight (image/load.ts decodeBytes, 7 bytes a pixel at full size): a batch
 * of 16 ImageNet photos (0.2 MP) at once, three 12 MP photos, or one photo shrunk while decoding. Without it a batch decoded at once took 1.26 GB per 12000^2 PNG.
 */
export const DECODE_BYTES_IN_FLIGHT = 256 * 2 ** 20;

interface Loaded {
  image: DatasetImage;
  pixels: RgbImage;
}

interface Accumulator {
  layer: string;
  channels: number;
  height: number;
  width: number;
  means: Float32Array;
  max: Float32Array;
  argmax: Uint32Array;
}

export async function scanDataset(engine: Engine, model: CnnModel, options: ScanOptions): Promise<ScanResult> {
  const { layers, images, signal, onProgress } = options;
  const loadImage = options.loadImage ?? loadImageForModel;
  const batchSize = options.batchSize ?? 16;
  const topK = options.topK ?? 9;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw userError({ where: 'scan batch size', expected: 'a positive integer', received: String(batchSize) });
  }
  if (!Number.isInteger(topK) || topK < 1) {
    throw userError({ where: 'scan top-k', expected: 'a positive integer', received: String(topK) });
  }
  if (layers.length === 0) throw userError({ where: 'scan layers', expected: 'at least one layer', received: 'none' });
  for (const layer of layers) findLayer(model, layer);

  const started = performance.now();
  let forwardMs = 0;
  let waitMs = 0;
  const scanned: DatasetImage[] = [];
  const skipped: SkippedImage[] = [];
  let cursor = 0;
  // The decodes of a batch run at once within this many bytes: a batch of large photos waits its turn.
  const decodes = createByteBudget(DECODE_BYTES_IN_FLIGHT);

  // Reads the next `batchSize` readable images in dataset order; unreadable ones are recorded and skipped.
  const loadNext = async (): Promise<Loaded[]> => {
    const batch: Loaded[] = [];
    while (batch.length < batchSize && cursor < images.length) {
      const chunk = images.slice(cursor, cursor + batchSize - batch.length);
      cursor += chunk.length;
      const results = await Promise.allSettled(chunk.map((image) => loadImage(image.path, model.preprocessing, decodes)));
      for (const [i, result] of results.entries()) {
        if (result.status === 'fulfilled') {
          batch.push({ image: chunk[i], pixels: result.value });
          continue;
        }
        // libvips keeps one error buffer for all threads: decodes failing together mix their messages
        // (or leave "Unknown error"). Failures are rare, so decode a failed image again, alone, for its own reason.
        try {
          batch.push({ image: chunk[i], pixels: await loadImage(chunk[i].path, model.preprocessing, decodes) });
        } catch (error) {
          skipped.push({ file: chunk[i].file, reason: reasonOf(error) });
        }
      }
    }
    return batch;
  };

  let accumulators: Accumulator[] | undefined;
  let pending = loadNext();
  for (;;) {
    signal?.throwIfAborted();
    const waitStart = performance.now();
    const batch = await pending;
    waitMs += performance.now() - waitStart;
    if (batch.length === 0) break;
    // Decode the next batch (sharp runs on libuv threads) while the engine computes this one.
    pending = loadNext();
    const forwardStart = performance.now();
    const outputs = await engine.forward(toBatch(batch), layers);
    forwardMs += performance.now() - forwardStart;
    accumulators ??= layers.map((layer) => createAccumulator(layer, mapsOf(outputs, layer), images.length));
    for (const accumulator of accumulators) reduce(accumulator, mapsOf(outputs, accumulator.layer), scanned.length);
    for (const loaded of batch) scanned.push(loaded.image);
    onProgress?.({ done: scanned.length + skipped.length, total: images.length, skipped: skipped.length });
  }

  if (!accumulators || scanned.length === 0) {
    const examples = skipped.slice(0, 3).map((s) => `${s.file} (${s.reason})`).join('; ');
    throw userError({
      where: 'dataset scan',
      expected: 'at least one readable image',
      received: images.length === 0 ? 'an empty image list' : `${skipped.length} unreadable images, e.g. ${examples}`,
      fix: 'Check the dataset folder holds JPEG, PNG or WebP photos.',
    });
  }
  const count = scanned.length;
  const layerScans = accumulators.map((acc): LayerScan => {
    const means = acc.means.slice(0, count * acc.channels);
    const max = acc.max.slice(0, count * acc.channels);
    return {
      layer: acc.layer,
      channels: acc.channels,
      height: acc.height,
      width: acc.width,
      means,
      max,
      argmax: acc.argmax.slice(0, count * acc.channels),
      stats: filterStats(means, max, count, acc.channels),
      top: topIndicesByMean(means, count, acc.channels, topK),
    };
  });
  return {
    images: scanned,
    skipped,
    layers: layerScans,
    timing: { seconds: (performance.now() - started) / 1000, forwardSeconds: forwardMs / 1000, decodeWaitSeconds: waitMs / 1000 },
  };
}

/**
 * Estimated bytes one image of a scan batch takes while its batch is forwarded: its input (the decoded
 * floats, the batch's copy and the engine's) and every activation computed up to the scanned layers,
 * float32, at the model's input size. A batch is decoded while the one before it is forwarded, so a
 * scan holds about two batches (pipeline/atlas/memory.ts checkScanMemory).
 */
export function scanBytesPerImage(model: CnnModel, layers: readonly string[]): number {
  const [height, width] = model.preprocessing.inputSize;
  const { graph, shapes } = graphAtSize(model, [height, width]);
  const nodes = new Set(layers.flatMap((layer) => [...ancestors(graph, findLayer(model, layer).node.name)]));
  let elements = 0;
  for (const name of nodes) {
    const shape = shapes.get(name);
    if (shape?.batched) elements += elementsOf(shape);
  }
  return 4 * elements + 3 * 4 * 3 * height * width;
}

/** The reason recorded for a skipped image: the decoder's own words, without the path repeated. */
function reasonOf(error: unknown): string {
  const message = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
  // libvips repeats a line once per failing tile or thread; keep each distinct line once.
  return [...new Set(message.split('\n').map((line) => line.trim()).filter(Boolean))].join('; ');
}

function toBatch(batch: Loaded[]): ImageBatch {
  const { height, width } = batch[0].pixels;
  const size = 3 * height * width;
  const data = new Float32Array(batch.length * size);
  batch.forEach((loaded, i) => data.set(loaded.pixels.data, i * size));
  return { data, n: batch.length, height, width };
}

function mapsOf(outputs: Map<string, FeatureMaps>, layer: string): FeatureMaps {
  const maps = outputs.get(layer);
  if (!maps) throw new Error(`engine.forward returned no output for layer ${layer}`);
  return maps;
}

function createAccumulator(layer: string, maps: FeatureMaps, capacity: number): Accumulator {
  const cells = capacity * maps.channels;
  return {
    layer,
    channels: maps.channels,
    height: maps.height,
    width: maps.width,
    means: new Float32Array(cells),
    max: new Float32Array(cells),
    argmax: new Uint32Array(cells),
  };
}

/** Reduces one batch's feature maps into rows [firstRow, firstRow + n) of the accumulator. */
function reduce(acc: Accumulator, maps: FeatureMaps, firstRow: number): void {
  if (maps.channels !== acc.channels || maps.height !== acc.height || maps.width !== acc.width) {
    throw new Error(`layer ${acc.layer}: feature map shape changed between batches`);
  }
  const plane = maps.height * maps.width;
  const data = maps.data;
  for (let n = 0; n < maps.n; n++) {
    for (let c = 0; c < maps.channels; c++) {
      const offset = (n * maps.channels + c) * plane;
      let sum = 0;
      let best = data[offset];
      let bestAt = 0;
      for (let i = 0; i < plane; i++) {
        const value = data[offset + i];
        sum += value;
        if (value > best) {
          best = value;
          bestAt = i;
        }
      }
      const cell = (firstRow + n) * maps.channels + c;
      acc.means[cell] = sum / plane;
      acc.max[cell] = best;
      acc.argmax[cell] = bestAt;
    }
  }
}

/** Per filter statistics over images (see LayerScan.stats). */
export function filterStats(means: Float32Array, max: Float32Array, images: number, channels: number): FilterStats[] {
  const stats: FilterStats[] = [];
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    let sumSquares = 0;
    let highest = -Infinity;
    let active = 0;
    for (let n = 0; n < images; n++) {
      const mean = means[n * channels + c];
      sum += mean;
      sumSquares += mean * mean;
      const peak = max[n * channels + c];
      if (peak > highest) highest = peak;
      if (peak > 0) active++;
    }
    const mean = sum / images;
    stats.push({ mean, std: Math.sqrt(Math.max(0, sumSquares / images - mean * mean)), max: highest, activeFraction: active / images });
  }
  return stats;
}
