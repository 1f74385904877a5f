/**
 * `npm run bench -- --peak [--threads N]`: this machine's arithmetic peak as the engine sees it,
 * ONNX Runtime's MatMul of two 2048 x 2048 float matrices (2 x 2048^3 FLOPs) on the engine's threads,
 * built with the project's ONNX writer; the best of a few runs after a warm-up, in GFLOP/s. Stored
 * in the asset cache per machine and thread count (pipeline/atlas/timings.ts), where `build`'s summary
 * (each stage's share of the peak) and `plan` (a lower bound on a build's time) read it.
 */
import { OnnxGraphBuilder } from '../pipeline/engine/ort/onnx-builder.js';
import { loadRuntime } from '../pipeline/engine/ort/runtime.js';
import { thisMachine, updateTimings } from '../pipeline/atlas/timings.js';
import { createRandom } from '../pipeline/util/random.js';

export const PEAK_SIZE = 2048;

export interface PeakResult {
  gflops: number;
  /** Seconds of each timed run. */
  runs: number[];
  device: string;
  what: string;
}

/** The MatMul program: a [n, n] input times a constant [n, n] matrix. */
function matMulProgram(n: number): { bytes: Uint8Array; input: string; output: string } {
  const builder = new OnnxGraphBuilder();
  const random = createRandom(1);
  const input = builder.input('a', [n, n]);
  const weights = builder.floatTensor('b', Float32Array.from({ length: n * n }, () => random.next() - 0.5), [n, n]);
  const output = builder.op('MatMul', [input, weights], 'product');
  builder.output(output, [n, n]);
  return { bytes: builder.encode('peak matmul'), input, output };
}

export async function measurePeak(options: { threads?: number; runs?: number; size?: number } = {}): Promise<PeakResult> {
  const n = options.size ?? PEAK_SIZE;
  const runtime = await loadRuntime({ threads: options.threads, device: 'cpu' });
  const program = matMulProgram(n);
  const session = await runtime.createSession(program.bytes);
  try {
    const a = new runtime.ort.Tensor('float32', new Float32Array(n * n).fill(0.25), [n, n]);
    await session.run({ [program.input]: a }); // warm-up: first-run allocations and packing
    const runs: number[] = [];
    for (let i = 0; i < (options.runs ?? 5); i++) {
      const t0 = performance.now();
      await session.run({ [program.input]: a });
      runs.push((performance.now() - t0) / 1000);
    }
    const best = Math.min(...runs);
    return { gflops: (2 * n ** 3) / best / 1e9, runs, device: runtime.device, what: `onnxruntime MatMul ${n}x${n}x${n}, ${runtime.device}, best of ${runs.length}` };
  } finally {
    await session.release();
  }
}

/** Measures and stores the peak for this machine and thread count; returns what it stored. */
export async function runPeakBench(options: { threads?: number; log: (line: string) => void; json: boolean }): Promise<PeakResult> {
  const result = await measurePeak({ threads: options.threads });
  const machine = thisMachine(options.threads);
  await updateTimings(machine, (timings) => ({ ...timings, peak: { gflops: result.gflops, at: new Date().toISOString(), what: result.what } }));
  if (options.json) console.log(JSON.stringify({ peak_gflops: result.gflops, cpu: machine.cpu, threads: machine.threads, runs_seconds: result.runs, what: result.what }));
  else options.log(`bench: peak ${result.gflops.toFixed(1)} GFLOP/s (${result.what}; runs ${result.runs.map((s) => s.toFixed(3)).join(', ')} s) on ${machine.cpu}, stored for ${machine.threads} threads`);
  return result;
}
