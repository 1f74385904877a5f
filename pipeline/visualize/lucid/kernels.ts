/**
 * The lucid method's WebAssembly kernels (issue 25: the JavaScript of a step cost a third of it): SIMD,
 * float32, compiled from ./assembly/ by `npm run build:wasm` (npm ci runs it through `prepare`) into
 * build/lucid-kernels.wasm. Each image range (image-range.ts) gets its own instance and memory, on its
 * own thread; the module allocates nothing, so the range lays its arrays out with `arena`, once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userError } from '../../errors.js';
import type { FourierBasis } from './fourier.js';
import { composedMap, type AffineStep, type Size } from './transforms.js';

export const KERNELS_FILE = join(import.meta.dirname, '../../../build/lucid-kernels.wasm');

/** The module's exports (pointers are byte offsets into its memory; see ./assembly/ for each). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  adamStep(params: number, gradient: number, m: number, v: number, count: number, sign: number, stepSize: number, sqrtCorrection2: number, beta1: number, beta2: number, eps: number): void;
  /**
   * fourier.ts spectrumToPlanes: spectrum (n x 3 x grid x (grid/2 + 1) x 2) -> planes (n x 3 x size x size).
   * tables: `writeFourierTables` (fourierTablesLength(grid) floats); scratch: fourierScratchLength(grid) floats.
   */
  spectrumToPlanes(tables: number, spectrum: number, planes: number, n: number, size: number, grid: number, scratch: number): void;
  /** fourier.ts planesToSpectrumGradient (the transpose): gradient (n x 3 x size x size) -> spectrum; same tables and scratch. */
  planesToSpectrumGradient(tables: number, gradient: number, spectrum: number, n: number, size: number, grid: number, scratch: number): void;
  /**
   * transforms.ts `sampler`'s map for one step (assembly/sampler.ts): per output pixel its corner
   * (int32 x outHeight * outWidth) and tap weights (float32 x 4 * outHeight * outWidth); see `setUpSampler`.
   */
  samplerSetup(a: number, b: number, c: number, d: number, e: number, f: number, height: number, width: number, outHeight: number, outWidth: number, corner: number, weights: number): void;
  /** n x 3 planes height x width -> n x 3 planes outHeight x outWidth; scratch: float32 x 4 * (height + 2) * (width + 2). */
  samplerForward(input: number, output: number, n: number, height: number, width: number, outHeight: number, outWidth: number, fill: number, corner: number, weights: number, scratch: number): void;
  /** The forward's adjoint: n x 3 planes outHeight x outWidth -> n x 3 planes height x width; scratch as the forward's. */
  samplerAdjoint(gradient: number, output: number, n: number, height: number, width: number, outHeight: number, outWidth: number, corner: number, weights: number, scratch: number): void;
  /**
   * colour.ts `planesToRgb` (assembly/colour.ts): n x 3 planes of `plane` floats -> sigmoid(M v), n x 3 planes;
   * m00..m22 the colour matrix row by row (colourMatrixArguments). `rgb` may be `planes`. No scratch.
   */
  planesToRgb(planes: number, rgb: number, n: number, plane: number, m00: number, m01: number, m02: number, m10: number, m11: number, m12: number, m20: number, m21: number, m22: number): void;
  /** colour.ts `rgbToPlanesGradient`: d loss / d planes into `out` from d loss / d rgb and the rgb planesToRgb gave; `out` may be `gradient` (faster). No scratch. */
  rgbToPlanesGradient(gradient: number, rgb: number, out: number, n: number, plane: number, m00: number, m01: number, m02: number, m10: number, m11: number, m12: number, m20: number, m21: number, m22: number): void;
  /** exp of `count` floats, the colour kernels' float32 lanes exp (for its accuracy test). */
  expValues(input: number, output: number, count: number): void;
  /** Bit 1: the `count` floats at `data` are all finite; bit 2: one at least is not zero. */
  gradientStatus(data: number, count: number): number;
}

/** A float32 array in a kernel instance's memory: its byte offset and a view (valid until the memory grows). */
export interface KernelArray {
  offset: number;
  length: number;
  view: Float32Array;
}

export interface Kernels {
  exports: KernelExports;
  /** Float32 arrays of the given lengths, 16-byte aligned, zeroed; the memory grows once for all of them. */
  arena(lengths: readonly number[]): KernelArray[];
}

let compiled: WebAssembly.Module | undefined;

function kernelModule(): WebAssembly.Module {
  if (compiled) return compiled;
  if (!existsSync(KERNELS_FILE)) {
    throw userError({
      where: KERNELS_FILE,
      expected: "the lucid method's WebAssembly kernels, compiled from pipeline/visualize/lucid/assembly/",
      received: 'no such file',
      fix: 'Run `npm run build:wasm` (`npm ci` runs it)',
    });
  }
  compiled = new WebAssembly.Module(readFileSync(KERNELS_FILE));
  return compiled;
}

const PAGE = 65536;

export function createKernels(): Kernels {
  const instance = new WebAssembly.Instance(kernelModule(), {});
  const exports = instance.exports as unknown as KernelExports;
  let top = exports.heapBase();
  let laidOut = false;
  return {
    exports,
    arena(lengths) {
      // A second layout would grow the memory and detach the first one's views.
      if (laidOut) throw new Error('lucid kernels: arena() is called once per instance');
      laidOut = true;
      const offsets = lengths.map((length) => {
        top = Math.ceil(top / 16) * 16;
        const offset = top;
        top += 4 * length;
        return offset;
      });
      const pages = Math.ceil(top / PAGE) - exports.memory.buffer.byteLength / PAGE;
      if (pages > 0) exports.memory.grow(pages);
      return offsets.map((offset, i) => ({ offset, length: lengths[i], view: new Float32Array(exports.memory.buffer, offset, lengths[i]) }));
    },
  };
}

/** The Fourier kernels' padded row: grid / 2 + 1 columns rounded up to four lanes. */
function fourierWidth(grid: number): number {
  return grid / 2 + 4;
}

function checkFourierGrid(grid: number): void {
  if (!Number.isInteger(Math.log2(grid)) || grid < 8) {
    throw new Error(`lucid kernels: the Fourier kernels need a grid that is a power of two >= 8 (a picture side >= 5), got ${grid}`);
  }
}

/** Floats of the Fourier kernels' tables: the folded scale (grid x width), cos, sin, -sin, two bit reversals. */
export function fourierTablesLength(grid: number): number {
  checkFourierGrid(grid);
  return grid * fourierWidth(grid) + 3 * grid;
}

/** Floats of the Fourier kernels' scratch: one plane's split columns, four rows' half spectra and FFT. */
export function fourierScratchLength(grid: number): number {
  checkFourierGrid(grid);
  return grid * 2 * fourierWidth(grid) + 8 * fourierWidth(grid) + 4 * grid;
}

/**
 * Fills `tables` (an arena array of fourierTablesLength(basis.grid) floats) for the Fourier kernels from
 * fourier.ts's basis: its scale with every constant factor of the map folded in (1 / sqrt(grid) of the
 * orthonormal ky transform, 1 / grid of irfft, sqrt(grid) / 4 of the picture: scale / (4 grid)), the
 * twiddles, and the bit reversals the in-place FFTs read their inputs in.
 */
export function writeFourierTables(basis: FourierBasis, tables: KernelArray): void {
  const { grid, half, scale } = basis;
  const length = fourierTablesLength(grid);
  if (tables.length !== length) throw new Error(`lucid kernels: Fourier tables for grid ${grid} take ${length} floats, got an array of ${tables.length}`);
  const width = fourierWidth(grid);
  const m = grid / 2;
  const view = tables.view;
  view.fill(0);
  const factor = 1 / (4 * grid);
  for (let ky = 0; ky < grid; ky++) for (let kx = 0; kx < half; kx++) view[ky * width + kx] = scale[ky * half + kx] * factor;
  const cos = grid * width;
  for (let k = 0; k < m; k++) {
    view[cos + k] = Math.cos((2 * Math.PI * k) / grid);
    view[cos + m + k] = Math.sin((2 * Math.PI * k) / grid);
    view[cos + 2 * m + k] = -view[cos + m + k];
  }
  const bitrev = new Int32Array(view.buffer, view.byteOffset + 4 * (cos + 3 * m), grid + m);
  const bits = Math.log2(grid);
  const reverse = (i: number, width: number) => {
    let r = 0;
    for (let b = 0; b < width; b++) r |= ((i >> b) & 1) << (width - 1 - b);
    return r;
  };
  for (let i = 0; i < grid; i++) bitrev[i] = reverse(i, bits);
  for (let i = 0; i < m; i++) bitrev[grid + i] = reverse(i, bits - 1);
}

/** Float32 lengths of the sampler kernels' arrays for a picture of `input` size seen at `output` size. */
export function samplerLengths(input: Size, output: Size): { corner: number; weights: number; scratch: number } {
  const count = output.height * output.width;
  return { corner: count, weights: 4 * count, scratch: 4 * (input.height + 2) * (input.width + 2) };
}

/**
 * One step's draws (transforms.ts drawTransforms) composed and laid out for samplerForward/samplerAdjoint:
 * the same map as transforms.ts `sampler(input, steps, fill)`. `corner` and `weights` are arena arrays of
 * at least samplerLengths(input, output) (corner holds int32s). Returns the output size.
 */
export function setUpSampler(kernels: KernelExports, input: Size, steps: readonly AffineStep[], corner: KernelArray, weights: KernelArray): Size {
  const output = steps.at(-1) ?? input;
  const lengths = samplerLengths(input, output);
  if (corner.length < lengths.corner || weights.length < lengths.weights) {
    throw new RangeError(`lucid kernels: the sampler of ${input.height} x ${input.width} -> ${output.height} x ${output.width} px needs corner >= ${lengths.corner} and weights >= ${lengths.weights} values`);
  }
  const [a, b, c, d, e, f] = composedMap(steps);
  kernels.samplerSetup(a, b, c, d, e, f, input.height, input.width, output.height, output.width, corner.offset, weights.offset);
  return { height: output.height, width: output.width };
}

export type ColourMatrixArguments = [m00: number, m01: number, m02: number, m10: number, m11: number, m12: number, m20: number, m21: number, m22: number];

/** colour.ts's 3 x 3 matrix as the colour kernels' nine arguments, row by row. */
export function colourMatrixArguments(matrix: readonly (readonly number[])[]): ColourMatrixArguments {
  if (matrix.length !== 3 || matrix.some((row) => row.length !== 3)) throw new RangeError('lucid kernels: the colour matrix must be 3 x 3');
  const [[m00, m01, m02], [m10, m11, m12], [m20, m21, m22]] = matrix;
  return [m00, m01, m02, m10, m11, m12, m20, m21, m22];
}
