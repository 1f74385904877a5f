/**
 * Build stage 1: the visualisation of every selected filter of a layer. Each filter's PNG,
 * thumbnail and record are keyed by a hash of what determines them; existing records are reused.
 */
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { encodePng, encodeWebpThumbnail } from '../render/images.js';
import type { Progress } from '../util/progress.js';
import { chunk, sweepFilters } from '../visualize/sweep.js';
import type { FilterVisualization } from '../visualize/batch.js';
import type { Method } from '../schema/method.js';
import { visualKey } from './keys.js';
import { visualFiles, visualRecordSchema, type VisualRecord } from './records.js';
import type { AtlasStore } from './store.js';

/** A filter as the visualisation stage records it; dataset statistics are joined later. */
export type { VisualRecord };

export const THUMBNAIL_SIZE = 160;

export interface VisualizeLayerInput {
  model: CnnModel;
  engine: Engine;
  store: AtlasStore;
  layer: string;
  channels: number;
  filters: number[];
  method: Method;
  seed: number;
  batchSize: number;
  /**
   * Which batches (cut from `filters` by `batchSize`, numbered from 0) this run does: a shard does
   * its own and leaves the others alone (neither reused nor computed). @default every batch
   */
  includeBatch?: (batch: number) => boolean;
  /** Cost of one filter in the progress's work units. @default 1 */
  filterCost?: number;
  concurrency: number;
  signal?: AbortSignal;
  progress?: Progress;
  /** Called with every filter's record as soon as it is known (reused, or computed and written). */
  onRecord?: (record: VisualRecord) => void;
  /** Called after each finished batch has been written (the caller refreshes atlas.json). */
  onBatchWritten?: () => Promise<void>;
}

export interface VisualizeLayerOutput {
  records: Map<number, VisualRecord>;
  computed: number;
  reused: number;
}

/** What a filter's record key depends on besides the filter and its batch. */
export type VisualKeyContext = Pick<VisualizeLayerInput, 'model' | 'engine' | 'layer' | 'method' | 'seed'>;

/**
 * Results depend on the batch a filter was optimised in (float rounding is chaotic), so the key
 * holds the batch's filters: batches are cut from the full selection the same way every run.
 */
export function filterKey(input: VisualKeyContext, filter: number, batch: readonly number[]): string {
  return visualKey({
    weights: input.model.weightsDigest,
    preprocessing: input.model.preprocessing,
    layer: input.layer,
    filter,
    batch,
    method: input.method,
    seed: input.seed,
    engine: input.engine.info,
  });
}

async function writeResult(store: AtlasStore, key: string, result: FilterVisualization): Promise<VisualRecord> {
  let image: string | undefined;
  let thumb: string | undefined;
  if (result.image) {
    image = await store.writeFile(`files/${key}/viz.png`, await encodePng(result.image));
    thumb = await store.writeFile(`files/${key}/thumb.webp`, await encodeWebpThumbnail(result.image, THUMBNAIL_SIZE));
  }
  const record: VisualRecord = {
    filter: result.filter,
    key,
    status: result.status,
    image,
    thumb,
    activation: Number.isFinite(result.activation) ? result.activation : 0,
    startActivation: Number.isFinite(result.startActivation) ? result.startActivation : 0,
    seconds: result.seconds,
    flags: result.flags,
  };
  // The record goes last: its presence is what marks the filter as done.
  await store.writeRecord(key, record);
  return record;
}

export async function visualizeLayer(input: VisualizeLayerInput): Promise<VisualizeLayerOutput> {
  const { store } = input;
  const records = new Map<number, VisualRecord>();
  const keep = (record: VisualRecord): void => {
    records.set(record.filter, record);
    input.onRecord?.(record);
  };
  const keys = new Map<number, string>();
  const todo: number[] = [];
  let included = 0;
  for (const [index, batch] of chunk(input.filters, input.batchSize).entries()) {
    if (input.includeBatch && !input.includeBatch(index)) continue;
    included += batch.length;
    const found: VisualRecord[] = [];
    for (const filter of batch) {
      const key = filterKey(input, filter, batch);
      keys.set(filter, key);
      const record = await store.readComplete(key, visualRecordSchema, visualFiles);
      if (record && record.key === key && record.filter === filter) found.push(record);
    }
    // A batch is reused whole or computed whole: its filters' results depend on each other.
    if (found.length === batch.length) found.forEach(keep);
    else todo.push(...batch);
  }
  // Batches are whole and only the layer's last can be short, so `todo` cuts into the same batches again.
  const reused = included - todo.length;
  const cost = input.filterCost ?? 1;
  input.progress?.skip(reused, reused * cost);
  if (todo.length > 0) {
    await sweepFilters(input.engine, {
      layer: input.layer,
      channels: input.channels,
      filters: todo,
      method: input.method,
      seed: input.seed,
      preprocessing: input.model.preprocessing,
      batchSize: input.batchSize,
      concurrency: input.concurrency,
      signal: input.signal,
      onResult: async (result) => {
        keep(await writeResult(store, keys.get(result.filter)!, result));
      },
      // Progress moves a whole batch of filters at a time: they finish together, and ticking the first
      // of them alone would time the whole batch against one filter's work.
      onBatch: async (filtersInBatch) => {
        input.progress?.tick(filtersInBatch, filtersInBatch * cost);
        await input.onBatchWritten?.();
      },
    });
  }
  return { records, computed: todo.length, reused };
}
