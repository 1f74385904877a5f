/**
 * Whole-layer runs: split the filters into batches, run the batches through a queue, hand each
 * result to the caller as soon as its batch finishes (so it can be persisted incrementally) and keep
 * none of them (so memory does not grow with the layer).
 */
import PQueue from 'p-queue';
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { ancestors } from '../model/layers.js';
import { graphAtSize } from '../model/sized.js';
import { elementsOf } from '../model/shapes.js';
import { visualizeBatch, type FilterVisualization, type VisualizeBatchOptions } from './batch.js';
import { largestEngineImage, type Method } from '../schema/method.js';

export interface SweepOptions extends Omit<VisualizeBatchOptions, 'onStep'> {
  /** Filters per batch (one image each). */
  batchSize: number;
  /** Batches run at the same time. @default 1 (onnxruntime already uses every core for one batch) */
  concurrency?: number;
  /** Called once per filter, in filter order within a batch, as its batch finishes. */
  onResult?: (result: FilterVisualization) => void | Promise<void>;
  /**
   * Called once per batch, after onResult has had every filter of it, with the batch's filter count
   * and its results (in filter order): progress advances by whole batches of filters (its filters
   * finish together), whatever the concurrency. The batch's queue slot is held until the promise
   * settles: a caller that writes a batch while the engine computes the next one starts the writes
   * and returns (atlas/stage-visualize.ts).
   */
  onBatch?: (filtersInBatch: number, results: readonly FilterVisualization[]) => void | Promise<void>;
  /** Called after every optimisation step of any batch, with that batch's filter count (progress). */
  onStep?: (filtersInBatch: number, stepsPerFilter: number) => void;
}

/** Consecutive chunks of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`batch size: expected a positive integer, received ${size}`);
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/**
 * Hands every filter's visualisation to `onResult`, in the order of options.filters within each
 * batch, and keeps none: a finished batch's images can be freed as soon as the caller has written
 * them, so memory stays at the batches in flight whatever the layer's size. Aborting stops between steps.
 */
export async function sweepFilters(engine: Engine, options: SweepOptions): Promise<void> {
  const { signal, onResult, onBatch, onStep } = options;
  signal?.throwIfAborted();
  const batches = chunk(options.filters, options.batchSize);
  // One controller for the sweep: the caller's abort or any batch's failure stops the other batches.
  const controller = new AbortController();
  const forward = (): void => controller.abort(signal?.reason);
  signal?.addEventListener('abort', forward, { once: true });
  const queue = new PQueue({ concurrency: options.concurrency ?? 1 });
  try {
    await Promise.all(
      batches.map((filters) =>
        queue.add(async (): Promise<void> => {
          controller.signal.throwIfAborted();
          const batch = await visualizeBatch(engine, {
            ...options,
            filters,
            signal: controller.signal,
            onStep: onStep && ((_done, total) => onStep(filters.length, total)),
          });
          // Resolving with nothing: Promise.all would otherwise hold every batch's images to the end.
          for (const result of batch) await onResult?.(result);
          await onBatch?.(filters.length, batch);
        }),
      ),
    );
  } catch (error) {
    controller.abort(error);
    queue.clear();
    await queue.onIdle();
    throw error;
  } finally {
    signal?.removeEventListener('abort', forward);
  }
}

/** Upper bound: beyond this a bigger batch gains nothing on CPU and delays the first results. */
export const MAX_BATCH_SIZE = 32;

/**
 * Estimated bytes one filter needs at the largest size the engine sees: activations kept for backward
 * + their gradients + optimiser state, times the images per filter (a lucid diversity group).
 */
export function bytesPerImage(model: CnnModel, layer: string, method: Method): number {
  const { size, images } = largestEngineImage(method);
  const { graph, shapes } = graphAtSize(model, [size, size]);
  let elements = 0;
  for (const name of ancestors(graph, layer)) {
    const shape = shapes.get(name)!;
    if (shape.batched) elements += elementsOf(shape);
  }
  // float32 forward activation + its gradient + pooling indices / temporaries: ~3 buffers of 4 bytes.
  const engine = 12 * elements;
  // x, Adam m and v, RGB images, gradients and their conversions: ~8 float32 copies of the image.
  const optimiser = 8 * 4 * 3 * size * size;
  return images * (engine + optimiser);
}

/**
 * The lucid method's upper bound: the batch that drew the most filters a second at 224 px on 2 cores
 * (`npm run bench -- --lucid`, batches 1 to 16, README "Lucid's speed"); larger ones only delay the first results.
 */
export const LUCID_MAX_BATCH_SIZE = 16;

/** A batch size whose estimated memory at the final (largest) scale fits the budget; at least 1. */
export function chooseBatchSize(model: CnnModel, layer: string, method: Method, memoryBudgetMiB: number): number {
  const fits = Math.floor((memoryBudgetMiB * 1024 * 1024) / bytesPerImage(model, layer, method));
  return Math.max(1, Math.min(method.kind === 'lucid' ? LUCID_MAX_BATCH_SIZE : MAX_BATCH_SIZE, fits));
}
