/**
 * `npx tsx bench/lucid-fourier-kernels.ts [images] [rounds]`: the lucid method's Fourier parameterisation and
 * its adjoint, fourier.ts (JavaScript, the definition) against the WebAssembly kernels (lucid/kernels.ts), at
 * Lucid's picture (224 px on a 256 grid): CPU ms per image on this thread, the fastest of `rounds` rounds in
 * which the four run in turn (on a shared machine, other jobs only ever add time).
 */
import { fourierBasis, planesToSpectrumGradient, spectrumToPlanes } from '../pipeline/visualize/lucid/fourier.js';
import { createKernels, fourierScratchLength, fourierTablesLength, writeFourierTables } from '../pipeline/visualize/lucid/kernels.js';
import { defaultLucidParams } from '../pipeline/schema/lucid-params.js';
import { createRandom } from '../pipeline/util/random.js';

function measure(n: number, rounds: number): void {
  const { size, decayPower } = defaultLucidParams;
  const basis = fourierBasis(size, decayPower);
  const kernels = createKernels();
  const [tables, scratch, spectrum, planes] = kernels.arena([fourierTablesLength(basis.grid), fourierScratchLength(basis.grid), n * basis.perImage, n * 3 * size * size]);
  writeFourierTables(basis, tables);
  const random = createRandom(1);
  for (const array of [spectrum.view, planes.view]) for (let i = 0; i < array.length; i++) array[i] = random.next() - 0.5;
  const [jsSpectrum, jsPlanes] = [spectrum.view.slice(), planes.view.slice()];
  const { exports } = kernels;
  const parts: [string, () => void][] = [
    ['inverse, JavaScript', () => spectrumToPlanes(basis, jsSpectrum, n, jsPlanes)],
    ['inverse, WebAssembly', () => exports.spectrumToPlanes(tables.offset, spectrum.offset, planes.offset, n, size, basis.grid, scratch.offset)],
    ['adjoint, JavaScript', () => planesToSpectrumGradient(basis, jsPlanes, n, jsSpectrum)],
    ['adjoint, WebAssembly', () => exports.planesToSpectrumGradient(tables.offset, planes.offset, spectrum.offset, n, size, basis.grid, scratch.offset)],
  ];
  const best = parts.map(() => Infinity);
  for (let round = -1; round < rounds; round++) {
    parts.forEach(([, run], i) => {
      const start = process.cpuUsage();
      run();
      const { user, system } = process.cpuUsage(start);
      if (round >= 0) best[i] = Math.min(best[i], (user + system) / 1000 / n); // round -1 warms the JIT up
    });
  }
  console.log(`picture ${size}, grid ${basis.grid}, ${n} images a call, CPU ms per image (fastest of ${rounds} rounds):`);
  parts.forEach(([name], i) => console.log(`  ${name.padEnd(22)} ${best[i].toFixed(3)}`));
  console.log(`  speed-up: inverse ${(best[0] / best[1]).toFixed(1)}x, adjoint ${(best[2] / best[3]).toFixed(1)}x`);
}

if (import.meta.url === `file://${process.argv[1]}`) measure(Number(process.argv[2] ?? 16), Number(process.argv[3] ?? 20));
