/**
 * The lucid method's WebAssembly kernels (issue 25: the JavaScript of a step cost a third of it): SIMD,
 * float32, compiled from ./assembly/ by `npm run build:wasm` (npm ci runs it through `prepare`) into
 * build/lucid-kernels.wasm. Each image range (image-range.ts) gets its own instance and memory, on its
 * own thread; the module allocates nothing, so the range lays its arrays out with `arena`, once.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { userError } from '../../errors.js';

export const KERNELS_FILE = join(import.meta.dirname, '../../../build/lucid-kernels.wasm');

/** The module's exports (pointers are byte offsets into its memory; see ./assembly/ for each). */
export interface KernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  adamStep(params: number, gradient: number, m: number, v: number, count: number, sign: number, stepSize: number, sqrtCorrection2: number, beta1: number, beta2: number, eps: number): void;
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
