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

export interface ScanMemory {
  /** Config file and field, for the message. */
  where: string;
  /** dataset/scan.ts scanBytesPerImage. */
  bytesPerImage: number;
  batchSize: number;
}

/**
 * Refuses a dataset scan whose batches cannot fit in this machine's memory: two batches at once (one
 * forwarded, the next decoded), each image its input and the activations up to the scanned layers.
 * `dataset.batchSize: 100000` on 300 photos once took 2.95 GB before this check.
 */
export function checkScanMemory(plan: ScanMemory, available = availableMemory()): void {
  const needed = 2 * plan.bytesPerImage * plan.batchSize;
  if (needed <= available / 2) return;
  const gib = (bytes: number) => `${(bytes / GIB).toFixed(1)} GiB`;
  throw userError({
    where: plan.where,
    expected: `a dataset scan batch that fits in half this machine's memory (${gib(available / 2)}; the rest is the visualisation's)`,
    received: `about ${(plan.bytesPerImage / 2 ** 20).toFixed(1)} MiB per image x ${plan.batchSize} images x 2 batches at once = ${gib(needed)}`,
    fix: 'Lower dataset.batchSize (16 is the default; larger batches are not faster on a CPU).',
  });
}
