/**
 * How many filters are optimised together, one rule for `build` and `visualize`: a filter's image
 * depends on the batch it ran in (float rounding), so the two commands must cut the same batches
 * for the same seed to give the same pictures.
 */
import { DEFAULT_BATCH_MEMORY_MIB } from '../schema/batch.js';
import type { CnnModel } from '../model/graph.js';
import type { Method } from '../schema/method.js';
import { chooseBatchSize } from './sweep.js';

export interface BatchSetting {
  /** A fixed size, or 'auto': what fits in memoryMiB at the final scale. */
  size: 'auto' | number;
  memoryMiB?: number;
}

export function planBatchSize(model: CnnModel, layer: string, method: Method, batch: BatchSetting): number {
  if (batch.size !== 'auto') return batch.size;
  return chooseBatchSize(model, layer, method, batch.memoryMiB ?? DEFAULT_BATCH_MEMORY_MIB);
}
