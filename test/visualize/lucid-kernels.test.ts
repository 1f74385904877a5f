/**
 * The lucid method's WebAssembly kernels (pipeline/visualize/lucid/kernels.ts) against the JavaScript
 * definitions they replace, on random data: the same numbers within float32 rounding.
 */
import { describe, expect, it } from 'vitest';
import { adamScalars, createAdam } from '../../pipeline/visualize/adam.js';
import { createKernels } from '../../pipeline/visualize/lucid/kernels.js';
import { createRandom } from '../../pipeline/util/random.js';
import { relativeError } from '../util/relative-error.js';

function randomArray(length: number, seed: number, scale = 1): Float32Array {
  const random = createRandom(seed);
  return new Float32Array(length).map(() => scale * (2 * random.next() - 1));
}

describe('lucid WebAssembly kernels', () => {
  it('adamStep: torch.optim.Adam on the negated gradient, as createAdam, over several steps and a ragged tail', () => {
    const count = 4 * 257 + 3;
    const options = { learningRate: 0.05, weightDecay: 0 };
    const kernels = createKernels();
    const [params, gradient, m, v] = kernels.arena([count, count, count, count]);
    const start = randomArray(count, 1);
    params.view.set(start);
    const reference = start.slice();
    const adam = createAdam(count, options);
    for (let t = 1; t <= 5; t++) {
      const g = randomArray(count, 10 + t, 3);
      gradient.view.set(g);
      const { stepSize, sqrtCorrection2 } = adamScalars(t, options);
      kernels.exports.adamStep(params.offset, gradient.offset, m.offset, v.offset, count, -1, stepSize, sqrtCorrection2, 0.9, 0.999, 1e-8);
      adam.step(reference, g.map((x) => -x));
    }
    expect(relativeError(params.view, reference)).toBeLessThan(1e-5);
    expect(params.view.some((x, i) => x !== start[i])).toBe(true);
  });

  it('gradientStatus: whether every value is finite and whether one is not zero, the tail included', () => {
    const kernels = createKernels();
    const [data] = kernels.arena([4 * 9 + 3]);
    const status = () => kernels.exports.gradientStatus(data.offset, data.length);
    expect(status()).toBe(1);
    data.view[data.length - 1] = -2e-30;
    expect(status()).toBe(3);
    for (const bad of [Number.NaN, Infinity, -Infinity]) {
      for (const at of [0, 17, data.length - 2]) {
        data.view[at] = bad;
        expect(status() & 1).toBe(0);
        data.view[at] = 0;
      }
    }
    expect(status()).toBe(3);
  });

  it('lays arrays out once per instance, 16-byte aligned and zeroed', () => {
    const kernels = createKernels();
    const arrays = kernels.arena([3, 5]);
    expect(arrays.every((a) => a.offset % 16 === 0 && a.view.every((x) => x === 0))).toBe(true);
    expect(() => kernels.arena([1])).toThrow(/once per instance/);
  });
});
