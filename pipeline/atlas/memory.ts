/**
 * Refuses, before any work, a layer whose batches cannot fit in this machine's memory (the
 * visualisation's estimate, sweep.ts bytesPerImage). Without this, a schedule that ends at a huge
 * image grows until the system kills the process: `batch.size: auto` falls back to one image and
 * never refuses.
 */
import { totalmem } from 'node:os';
import { userError } from '../errors.js';

export interface BatchMemory {
  /** Config file and layer, for the message. */
  where: string;
  bytesPerImage: number;
  batchSize: number;
  /** Batches in flight at once. */
  concurrency: number;
  auto: boolean;
}

/** The memory this process may use: the machine's, or its container's limit when lower. */
export function availableMemory(): number {
  const limit = process.constrainedMemory?.() ?? 0;
  // 0 or a huge number (2^63 or so) means no limit.
  return limit > 0 && limit < totalmem() ? limit : totalmem();
}

const GIB = 2 ** 30;

export function checkBatchMemory(plan: BatchMemory, available = availableMemory()): void {
  const needed = plan.bytesPerImage * plan.batchSize * plan.concurrency;
  if (needed <= available) return;
  const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;
  const images = plan.batchSize * plan.concurrency;
  throw userError({
    where: plan.where,
    expected: `a visualisation that fits in this machine's memory (${gib(available)})`,
    received: `about ${gib(plan.bytesPerImage)} per image at the final size x ${images} image${images === 1 ? '' : 's'} at once = ${gib(needed)}`,
    fix: plan.auto && images === 1
      ? 'Lower the final image size (method: startSize, scales, upscale) or visualise an earlier layer.'
      : 'Lower batch.size or batch.concurrency, or the final image size (method: startSize, scales, upscale).',
  });
}
