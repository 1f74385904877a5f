/**
 * A worker thread's loop for threads.ts: it sets up one image range and runs its phases on request,
 * answering each with { done } or { error }.
 */
import { parentPort } from 'node:worker_threads';
import { createImageRange, type ImageRange, type RangeSetup } from './image-range.js';
import type { AffineStep } from './transforms.js';

export type RangeRequest = { kind: 'setup'; setup: RangeSetup } | { kind: 'forward'; draws: AffineStep[] | null } | { kind: 'backward'; frozen: boolean[] };

const port = parentPort;
if (!port) throw new Error('range-worker.ts runs as a worker thread only');
let range: ImageRange | undefined;
port.on('message', (request: RangeRequest) => {
  try {
    if (request.kind === 'setup') range = createImageRange(request.setup);
    else if (!range) throw new Error('lucid worker: a phase before its setup');
    else if (request.kind === 'forward') range.forward(request.draws);
    else range.backward(request.frozen);
    port.postMessage({ done: true });
  } catch (error) {
    port.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
});
