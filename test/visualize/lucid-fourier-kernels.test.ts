/**
 * The lucid method's Fourier kernels (pipeline/visualize/lucid/assembly/fourier.ts) against fourier.ts,
 * the definition, on random data: the same numbers within float32 rounding, at the loop's sizes (picture
 * 224 on a 256 grid) and at small ones (odd sides, a side equal to the grid); and the kernels' own
 * adjoint identity <A x, y> = <x, A^T y>.
 */
import { describe, expect, it } from 'vitest';
import { createKernels, fourierScratchLength, fourierTablesLength, writeFourierTables } from '../../pipeline/visualize/lucid/kernels.js';
import { fourierBasis, planesToSpectrumGradient, spectrumToPlanes } from '../../pipeline/visualize/lucid/fourier.js';
import { createRandom } from '../../pipeline/util/random.js';
import { relativeError } from '../util/relative-error.js';

function randomArray(length: number, seed: number): Float32Array {
  const random = createRandom(seed);
  return new Float32Array(length).map(() => 2 * random.next() - 1);
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** One kernel instance laid out for n images of the basis: tables, scratch, spectrum, planes. */
function fourierKernels(size: number, n: number, decayPower = 1) {
  const basis = fourierBasis(size, decayPower);
  const kernels = createKernels();
  // Guards after the outputs: a kernel must write nothing past them.
  const [tables, scratch, spectrum, afterSpectrum, planes, afterPlanes] = kernels.arena([fourierTablesLength(basis.grid), fourierScratchLength(basis.grid), n * basis.perImage, 64, n * 3 * size * size, 64]);
  writeFourierTables(basis, tables);
  const guards = [afterSpectrum.view, afterPlanes.view];
  for (const guard of guards) guard.fill(7);
  return {
    basis,
    spectrum,
    planes,
    guardsIntact: () => guards.every((guard) => guard.every((x) => x === 7)),
    toPlanes(input: Float32Array): Float32Array {
      spectrum.view.set(input);
      planes.view.fill(Number.NaN); // every value must be written
      kernels.exports.spectrumToPlanes(tables.offset, spectrum.offset, planes.offset, n, size, basis.grid, scratch.offset);
      return planes.view.slice();
    },
    toSpectrum(input: Float32Array): Float32Array {
      planes.view.set(input);
      spectrum.view.fill(Number.NaN);
      kernels.exports.planesToSpectrumGradient(tables.offset, planes.offset, spectrum.offset, n, size, basis.grid, scratch.offset);
      return spectrum.view.slice();
    },
  };
}

describe('lucid Fourier WebAssembly kernels', () => {
  const cases = [
    { size: 224, n: 3, decayPower: 1 },
    { size: 17, n: 2, decayPower: 1 },
    { size: 30, n: 2, decayPower: 1.5 },
    { size: 32, n: 2, decayPower: 0 },
    { size: 64, n: 1, decayPower: 1 },
    { size: 5, n: 1, decayPower: 1 },
    { size: 8, n: 1, decayPower: 1 },
  ];
  for (const { size, n, decayPower } of cases) {
    it(`picture ${size} (grid ${fourierBasis(size, 1).grid}), ${n} images, decay ${decayPower}: spectrumToPlanes and its adjoint as fourier.ts`, () => {
      const k = fourierKernels(size, n, decayPower);
      const spectrum = randomArray(n * k.basis.perImage, size);
      const planes = k.toPlanes(spectrum);
      expect(relativeError(planes, spectrumToPlanes(k.basis, spectrum, n))).toBeLessThan(1e-5);
      const gradient = randomArray(n * 3 * size * size, size + 1);
      const back = k.toSpectrum(gradient);
      expect(relativeError(back, planesToSpectrumGradient(k.basis, gradient, n))).toBeLessThan(1e-5);
      // The kernels' own adjoint identity, in float64 sums of float32 values.
      const left = dot(planes, gradient);
      const right = dot(spectrum, back);
      expect(k.guardsIntact()).toBe(true);
      expect(Math.abs(left - right)).toBeLessThan(1e-5 * Math.sqrt(dot(planes, planes) * dot(gradient, gradient)));
    });
  }

  it('refuses grids the kernels do not handle and tables of the wrong length', () => {
    expect(() => fourierTablesLength(4)).toThrow(/power of two >= 8/);
    expect(() => fourierScratchLength(48)).toThrow(/power of two >= 8/);
    const kernels = createKernels();
    const [tables] = kernels.arena([fourierTablesLength(16)]);
    expect(() => writeFourierTables(fourierBasis(30, 1), tables)).toThrow(/grid 32 take/);
  });
});
