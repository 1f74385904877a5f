/**
 * The work of a lucid step outside the engine on several threads (issue 25). The engine's run blocks
 * the main thread and its own threads use every core, so that work cannot overlap it (measured: beside
 * it, the engine ran at half speed); but between runs the cores are free (the engine's threads stop
 * spinning, ort/runtime.ts): the batch is cut into image ranges (image-range.ts), the first computed
 * on the main thread, the others on worker threads, each in its own WebAssembly kernel instance, the
 * arrays that cross threads shared. Every image is computed the same way whichever thread has it: the
 * pictures do not depend on the thread count.
 *
 * Workers run the project's TypeScript through tsx's loader, which a worker does not inherit from the
 * main thread: each starts with a line that registers it.
 */
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import os from 'node:os';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { LucidParams } from '../../schema/lucid-params.js';
import { createImageRange, sharedArrays, type RangeSetup, type SharedArrays } from './image-range.js';
import type { RangeRequest } from './range-worker.js';
import type { AffineStep } from './transforms.js';

/** Below this many picture pixels per batch, starting a worker (about 0.3 s) costs more than it saves. */
const MIN_PIXELS_FOR_THREADS = 2 * 128 * 128;

export interface LucidThreads {
  arrays: SharedArrays;
  /** Threads actually used (1: no workers). */
  threads: number;
  forward(draws: readonly AffineStep[] | null): Promise<void>;
  backward(frozen: readonly boolean[]): Promise<void>;
  close(): Promise<void>;
}

export interface ThreadsSetup {
  params: LucidParams;
  learningRate: number;
  n: number;
  perImage: number;
  seenSize: number;
  /** The start spectra, n x perImage: each range takes its images' when it is set up. */
  start: Float32Array;
  /** Threads wanted; 'auto': every core, at most one per image, one for small batches. */
  threads: number | 'auto';
}

/** How many threads a batch gets. */
export function threadCount(setup: Pick<ThreadsSetup, 'threads' | 'n' | 'params'>): number {
  const { n, params } = setup;
  if (setup.threads !== 'auto') return Math.max(1, Math.min(setup.threads, n));
  if (n * params.size * params.size < MIN_PIXELS_FOR_THREADS) return 1;
  return Math.max(1, Math.min(os.availableParallelism(), n));
}

/** The URL of tsx's ESM API (import.meta.resolve where the runtime has it, else tsx's package.json). */
function tsxApiUrl(): string {
  if (typeof import.meta.resolve === 'function') return import.meta.resolve('tsx/esm/api');
  const require = createRequire(import.meta.url);
  const manifest = require.resolve('tsx/package.json');
  const exports = (JSON.parse(readFileSync(manifest, 'utf8')) as { exports: Record<string, { import: { default: string } }> }).exports;
  return pathToFileURL(join(dirname(manifest), exports['./esm/api'].import.default)).href;
}

function startWorker(): Worker {
  const target = new URL('./range-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsxApiUrl())}).then((api) => { api.register(); return import(${JSON.stringify(target)}); })`;
  return new Worker(boot, { eval: true });
}

/** One request to a worker, answered once. */
function ask(worker: Worker, request: RangeRequest): Promise<void> {
  return new Promise((resolve, reject) => {
    const onMessage = (answer: { done?: true; error?: string }) => {
      worker.off('error', onError);
      if (answer.error !== undefined) reject(new Error(`lucid worker: ${answer.error}`));
      else resolve();
    };
    const onError = (error: Error) => {
      worker.off('message', onMessage);
      reject(error);
    };
    worker.once('message', onMessage);
    worker.once('error', onError);
    worker.postMessage(request);
  });
}

export async function createLucidThreads(setup: ThreadsSetup): Promise<LucidThreads> {
  const { n, perImage, seenSize, params } = setup;
  const threads = threadCount(setup);
  const plane = params.size * params.size;
  const buffer = (floats: number) => (threads > 1 ? new SharedArrayBuffer(4 * floats) : new ArrayBuffer(4 * floats));
  const buffers = { spectrum: buffer(n * perImage), rgb: buffer(n * 3 * plane), seen: buffer(n * 3 * seenSize * seenSize), gradient: buffer(n * 3 * seenSize * seenSize), status: buffer(n) };
  if (setup.start.length !== n * perImage) throw new RangeError(`lucid: ${setup.start.length} start spectrum values for ${n} images of ${perImage}`);
  new Float32Array(buffers.spectrum).set(setup.start);
  // Ranges as even as the images allow, the first (the main thread's) never the larger.
  const ranges: RangeSetup[] = [];
  for (let t = 0, first = 0; t < threads; t++) {
    const count = Math.floor(n / threads) + (threads - 1 - t < n % threads ? 1 : 0);
    ranges.push({ params, learningRate: setup.learningRate, n, first, count, seenSize, buffers });
    first += count;
  }
  const main = createImageRange(ranges[0]);
  const workers = ranges.slice(1).map(() => startWorker());
  const frozenOf = (frozen: readonly boolean[], range: RangeSetup) => frozen.slice(range.first, range.first + range.count);
  try {
    await Promise.all(workers.map((worker, i) => ask(worker, { kind: 'setup', setup: ranges[i + 1] })));
  } catch (error) {
    await Promise.all(workers.map((worker) => worker.terminate()));
    throw error;
  }
  const everywhere = async (request: (range: RangeSetup) => RangeRequest, here: () => void) => {
    const pending = workers.map((worker, i) => ask(worker, request(ranges[i + 1])));
    // The workers' failures are awaited even when the main thread's share throws.
    const settled = Promise.allSettled(pending);
    here();
    for (const result of await settled) if (result.status === 'rejected') throw result.reason;
  };
  return {
    arrays: sharedArrays({ buffers }),
    threads,
    forward: (draws) => everywhere(() => ({ kind: 'forward', draws: draws ? [...draws] : null }), () => main.forward(draws)),
    backward: (frozen) => everywhere((range) => ({ kind: 'backward', frozen: frozenOf(frozen, range) }), () => main.backward(frozenOf(frozen, ranges[0]))),
    close: async () => {
      await Promise.all(workers.map((worker) => worker.terminate()));
    },
  };
}
