/**
 * Build stage 1: the visualisation of every selected filter of a layer. Each filter's PNG (and, for
 * the layer's main method, its web images) and record are keyed by a hash of what determines them;
 * existing records are reused. A finished batch is encoded and written while the engine computes
 * the next one: the pictures from the images in memory, once each, then made durable with their
 * records (store.ts DurableBatch).
 */
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { encodePng, encodeWebImages, toRgbBytes } from '../render/images.js';
import type { Progress } from '../util/progress.js';
import { chunk, sweepFilters } from '../visualize/sweep.js';
import type { FilterVisualization } from '../visualize/batch.js';
import type { Method } from '../schema/method.js';
import { visualKey } from './keys.js';
import { visualFiles, visualRecordSchema, type VisualRecord, type WebRecord } from './records.js';
import { writeWebImages } from './stage-web-images.js';
import type { AtlasStore } from './store.js';

/** A filter as the visualisation stage records it; dataset statistics are joined later. */
export type { VisualRecord };

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
  /** Also write each computed picture's web images (stage-web-images.ts): for the layer's main method. */
  webImages?: boolean;
  /** Called with every filter's record as soon as it is known (reused, or computed and written), and the web images written with it. */
  onRecord?: (record: VisualRecord, web?: WebRecord) => void;
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

interface Written {
  record: VisualRecord;
  web?: { key: string; record: WebRecord };
}

/**
 * Encodes a finished batch's pictures and writes them, then their records: the web images' records
 * before the pictures', since a picture's record is what marks it done. Every encoder of the batch
 * is started at once and each file is written as soon as its bytes are there: libvips' threads work
 * through them beside the engine. The engine's runs are synchronous on this thread, so each await
 * here waits for the end of an optimisation step; one picture at a time, awaiting each encode and
 * write in turn, took more steps than a batch has, and the engine then waited for the writes.
 */
async function writeBatch(store: AtlasStore, keys: ReadonlyMap<number, string>, results: readonly FilterVisualization[], webImages: boolean): Promise<Written[]> {
  const batch = store.batch();
  const written = await Promise.all(
    results.map(async (result): Promise<Written> => {
      const key = keys.get(result.filter)!;
      let image: string | undefined;
      let web: Written['web'];
      if (result.image) {
        const pixels = toRgbBytes(result.image);
        const [png, encodedWeb] = await Promise.all([encodePng(pixels), webImages ? encodeWebImages(pixels) : undefined]);
        [image, web] = await Promise.all([batch.writeFile(`files/${key}/viz.png`, png), encodedWeb && writeWebImages(batch, key, encodedWeb)]);
      }
      const record: VisualRecord = {
        filter: result.filter,
        key,
        status: result.status,
        image,
        activation: Number.isFinite(result.activation) ? result.activation : 0,
        startActivation: Number.isFinite(result.startActivation) ? result.startActivation : 0,
        seconds: result.seconds,
        flags: result.flags,
      };
      return { record, ...(web ? { web } : {}) };
    }),
  );
  await batch.commit(
    written.flatMap(({ web }) => (web ? [web] : [])),
    written.map(({ record }) => ({ key: record.key, record })),
  );
  return written;
}

export async function visualizeLayer(input: VisualizeLayerInput): Promise<VisualizeLayerOutput> {
  const { store } = input;
  const records = new Map<number, VisualRecord>();
  const keep = (record: VisualRecord, web?: WebRecord): void => {
    records.set(record.filter, record);
    input.onRecord?.(record, web);
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
    if (found.length === batch.length) found.forEach((record) => keep(record));
    else todo.push(...batch);
  }
  // Batches are whole and only the layer's last can be short, so `todo` cuts into the same batches again.
  const reused = included - todo.length;
  const cost = input.filterCost ?? 1;
  input.progress?.skip(reused, reused * cost);
  if (todo.length > 0) {
    // The batches being written while the engine computes the next (one, or `concurrency`), chained:
    // memory holds the images of the batches computed and one written. A failed write stops the
    // sweep through `stop` and is what the stage throws.
    let writing: Promise<void> = Promise.resolve();
    let failure: { error: unknown } | undefined;
    const stop = new AbortController();
    const signal = input.signal ? AbortSignal.any([input.signal, stop.signal]) : stop.signal;
    const write = async (results: readonly FilterVisualization[]): Promise<void> => {
      for (const { record, web } of await writeBatch(store, keys, results, input.webImages ?? false)) keep(record, web?.record);
      // Progress moves a whole batch of filters at a time: they finish together, and ticking the first
      // of them alone would time the whole batch against one filter's work.
      input.progress?.tick(results.length, results.length * cost);
      await input.onBatchWritten?.();
    };
    const written = async (): Promise<void> => {
      await writing;
      if (failure) throw failure.error;
    };
    try {
      await sweepFilters(input.engine, {
        layer: input.layer,
        channels: input.channels,
        filters: todo,
        method: input.method,
        seed: input.seed,
        preprocessing: input.model.preprocessing,
        batchSize: input.batchSize,
        concurrency: input.concurrency,
        signal,
        // Batches are written one after another, in the order they finish; the engine goes on once the
        // batch before this one is written.
        onBatch: async (_count, results) => {
          const before = writing;
          writing = before
            .then(() => (failure ? undefined : write(results)))
            .catch((error: unknown) => {
              failure = { error };
              stop.abort(error);
            });
          await before;
          if (failure) throw failure.error;
        },
      });
    } catch (error) {
      // Whatever stopped the sweep, the batch in hand is written (or fails) before the stage returns;
      // a failed write is the cause when there is one (the sweep then only saw its abort).
      await written();
      throw error;
    }
    await written();
  }
  return { records, computed: todo.length, reused };
}
