// The lucid method's WebAssembly kernels (SIMD, float32), one module: `npm run build:wasm` compiles
// this file to build/lucid-kernels.wasm (npm ci runs it). pipeline/visualize/lucid/kernels.ts loads it.
// The module allocates nothing: the caller lays its arrays out above heapBase() and grows the memory.

export function heapBase(): usize {
  return __heap_base;
}

export { adamStep } from './adam';
export { spectrumToPlanes, planesToSpectrumGradient } from './fourier';
export { samplerSetup, samplerForward, samplerAdjoint } from './sampler';
export { expValues, planesToRgb, rgbToPlanesGradient } from './colour';
export { gradientStatus } from './checks';
