import { describe, expect, it } from 'vitest';
import { loadModel } from '../../pipeline/model/load.js';
import { activationBytes, wasmHeapSkip } from '../../bench/wasm-heap.js';

describe('wasmHeapSkip: the bench skips cases too large for the tfjs wasm heap before running them', () => {
  it('estimates from the activations of every node up to the layer, times the batch', async () => {
    const model = await loadModel('darknet-tiny');
    const one = activationBytes(model, 'conv2d_16', 224, 1);
    expect(activationBytes(model, 'conv2d_16', 224, 8)).toBe(8 * one);
    // Halving the side quarters every feature map.
    expect(activationBytes(model, 'conv2d_16', 112, 1)).toBeCloseTo(one / 4, -3);
    expect(activationBytes(model, 'conv2d_1', 224, 1)).toBeLessThan(one);
  });

  it('runs what fits half the heap at 5 bytes per activation byte, skips the rest on wasm only, and says why', async () => {
    const model = await loadModel('darknet-tiny');
    const wasm = 'tfjs 4.22.0 wasm (SIMD, 1 thread)';
    expect(wasmHeapSkip(wasm, model, 'conv2d_16', 224, 8)).toBeUndefined();
    expect(wasmHeapSkip(wasm, model, 'conv2d_16', 224, 16)).toBe(
      'skipped on tfjs wasm: needs about 2.71 GiB (5 x 0.54 GiB of forward activations), over the 2.00 GiB a case may use of the 4.00 GiB wasm heap (bench/wasm-heap.ts)',
    );
    expect(wasmHeapSkip('onnxruntime 1.30.0 cpu, 2 threads', model, 'conv2d_16', 224, 16)).toBeUndefined();
  });
});
