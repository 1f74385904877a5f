/**
 * The FLOP estimates of model/flops.ts (what `plan` and the build's progress count before anything
 * runs) against the onnxruntime engine's own count of the programs that ran (Engine.flopsComputed,
 * the per-node counts of `--verbose` placement lines, from each program's profiled first run):
 * darknet-tiny, an early layer at a small size and the class layer at full size, gradient and forward,
 * within 2 %; and the count scales with the batch.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine } from '../../pipeline/engine/engine.js';
import { forwardFlops, gradientFlops } from '../../pipeline/model/flops.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { graphAtSize } from '../../pipeline/model/sized.js';

let model: CnnModel;
let engine: Engine;

beforeAll(async () => {
  model = await loadModel('darknet-tiny', {});
  engine = await createEngine(model, { engine: 'ort', threads: 2, device: 'cpu' });
});
afterAll(async () => engine?.dispose());

const grey = (n: number, size: number) => ({ data: new Float32Array(n * 3 * size * size).fill(0.5), n, height: size, width: size });

/** FLOPs the engine counted for one call. */
async function counted(call: () => Promise<unknown>): Promise<number> {
  const before = engine.flopsComputed!();
  await call();
  return engine.flopsComputed!() - before;
}

describe('model/flops.ts against the engine\'s count', () => {
  it.each([
    ['leaky_re_lu_2', 56],
    ['conv2d_16', 227],
  ])('%s at %i px: gradient and forward within 2 %%', async (layer, size) => {
    const sized = graphAtSize(model, [size, size]);
    const channels = sized.shapes.get(layer)!.dims[0];
    const gradient = await counted(() => engine.objectiveGradient(grey(2, size), layer, new Float32Array(2 * channels).fill(1)));
    expect(gradient).toBeGreaterThan(0);
    expect(Math.abs(2 * gradientFlops(sized, layer) - gradient) / gradient).toBeLessThan(0.02);
    const forward = await counted(() => engine.forward(grey(2, size), [layer]));
    expect(Math.abs(2 * forwardFlops(sized, [layer]) - forward) / forward).toBeLessThan(0.02);
  });

  it('counts later runs of a program by their batch, without profiling them again', async () => {
    const sized = graphAtSize(model, [56, 56]);
    const channels = sized.shapes.get('leaky_re_lu_2')!.dims[0];
    const one = await counted(() => engine.objectiveGradient(grey(1, 56), 'leaky_re_lu_2', new Float32Array(channels).fill(1)));
    const three = await counted(() => engine.objectiveGradient(grey(3, 56), 'leaky_re_lu_2', new Float32Array(3 * channels).fill(1)));
    expect(three).toBeCloseTo(3 * one, -3);
  });
});
