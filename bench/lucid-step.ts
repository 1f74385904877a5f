/**
 * The lucid method's speed on darknet-tiny conv2d_16 at Lucid's defaults (224 px picture, 236 px seen by
 * the engine), two measurements:
 *
 * - `runLucidBench` (the lucid rows of `npm run bench`; `npm run bench -- --lucid` for batches 1 to 16):
 *   the real loop (pipeline/visualize/lucid/loop.ts) for a few timed steps after a warm-up, as seconds per
 *   filter at the method's default step count (extrapolated from the timed steps: every step does the same work) and the share
 *   of a step's wall time spent outside the engine's run (the JavaScript: parameterisation, transforms,
 *   their adjoints, Adam; on worker threads where the batch allows, lucid/threads.ts).
 * - `npx tsx bench/lucid-step.ts [batch] [steps] [rounds]`: where the time outside the engine goes, part
 *   by part on one thread, each part's JavaScript definition against its WebAssembly kernel, and the
 *   engine's forward + backward pass for scale (CPU time of this process per image and step).
 */
import { loadavg } from 'node:os';
import type { DeviceName } from '../pipeline/schema/device.js';

export interface LucidBenchRow {
  engine: 'ort';
  model: 'darknet-tiny';
  layer: 'conv2d_16';
  size: number;
  batch: number;
  /** Threads the step's JavaScript ran on. */
  threads: number;
  /** Steps timed (after a warm-up), extrapolated to `steps` for seconds_per_filter. */
  steps_timed: number;
  steps: number;
  seconds_per_step: number;
  seconds_per_filter: number;
  /** Share of a step's wall time outside the engine's run. */
  outside_engine: number;
  device: string;
}

export interface LucidBenchOptions {
  batches: readonly number[];
  /** Timed steps per batch. @default 8 */
  steps?: number;
  /**
   * Rounds over all batches, back to back; each batch's row is its fastest round (on a shared machine,
   * other jobs only ever add time). @default 1
   */
  rounds?: number;
  device?: DeviceName;
  log?: (line: string) => void;
}

const LAYER = 'conv2d_16';

export async function runLucidBench(options: LucidBenchOptions): Promise<LucidBenchRow[]> {
  const [{ loadModel }, { createEngine }, { runLucid }, { channelMean }, { defaultLucidParams }] = await Promise.all([
    import('../pipeline/model/load.js'),
    import('../pipeline/engine/create.js'),
    import('../pipeline/visualize/lucid/loop.js'),
    import('../pipeline/visualize/lucid/objective.js'),
    import('../pipeline/schema/lucid-params.js'),
  ]);
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const timed = options.steps ?? 8;
  const engine = await createEngine(await loadModel('darknet-tiny'), { engine: 'ort', ...(options.device ? { device: options.device } : {}) });
  const rows: LucidBenchRow[] = [];
  try {
    const run = async (batch: number, steps: number) => {
      const filters = Array.from({ length: batch }, (_, i) => (i * 997) % 1000);
      const timing = { steps: 0, stepSeconds: 0, engineSeconds: 0, threads: 0 };
      const params = { ...defaultLucidParams, steps };
      await runLucid(engine, { objective: channelMean(LAYER, 1000, filters), n: batch, copies: filters.map(() => 0), params, learningRate: params.learningRate, seed: 0, timing });
      return timing;
    };
    const fastest = new Map<number, Awaited<ReturnType<typeof run>>>();
    for (let round = 0; round < (options.rounds ?? 1); round++) {
      for (const batch of options.batches) {
        if (round === 0) await run(batch, 2); // builds the engine's session at this batch
        const timing = await run(batch, timed);
        const best = fastest.get(batch);
        if (!best || timing.stepSeconds < best.stepSeconds) fastest.set(batch, timing);
        log(`bench lucid: round ${round + 1}, batch ${batch}: ${(timing.stepSeconds / timing.steps).toFixed(3)} s/step`);
      }
    }
    for (const batch of options.batches) {
      const timing = fastest.get(batch)!;
      const perStep = timing.stepSeconds / timing.steps;
      const row: LucidBenchRow = {
        engine: 'ort',
        model: 'darknet-tiny',
        layer: LAYER,
        size: defaultLucidParams.size,
        batch,
        threads: timing.threads,
        steps_timed: timing.steps,
        steps: defaultLucidParams.steps,
        seconds_per_step: perStep,
        seconds_per_filter: (perStep * defaultLucidParams.steps) / batch,
        outside_engine: 1 - timing.engineSeconds / timing.stepSeconds,
        device: engine.info.device,
      };
      rows.push(row);
      log(
        `bench lucid: batch ${batch} (${row.threads} JS threads): ${perStep.toFixed(3)} s/step, ${row.seconds_per_filter.toFixed(1)} s/filter at ${row.steps} steps ` +
          `(from ${row.steps_timed} timed steps), ${(100 * row.outside_engine).toFixed(1)} % of a step outside the engine`,
      );
    }
  } finally {
    await engine.dispose();
  }
  return rows;
}

/** The lucid rows as a table: seconds per filter, filters per minute, share outside the engine. */
export function formatLucidTable(rows: readonly LucidBenchRow[]): string {
  const header = ['lucid at 224 px', 'batch', 'JS threads', 's/step', rows[0] ? `s/filter (${rows[0].steps} steps)` : 's/filter', 'filters/min', 'outside engine', 'device'];
  const body = rows.map((r) => [
    `${r.model} ${r.layer}`,
    String(r.batch),
    String(r.threads),
    r.seconds_per_step.toFixed(3),
    r.seconds_per_filter.toFixed(1),
    (60 / r.seconds_per_filter).toFixed(2),
    `${(100 * r.outside_engine).toFixed(1)} %`,
    r.device,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 7 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/**
 * Part by part, on one thread: CPU milliseconds per image and step of each part of a lucid step, its
 * JavaScript definition (fourier.ts, colour.ts, transforms.ts, adam.ts) against the WebAssembly kernel
 * the loop runs (kernels.ts), and the engine's gradient pass for scale; the fastest of `rounds` rounds
 * (on a shared machine other jobs only ever add time). Both sides work on the same data at the loop's
 * sizes (224 px picture, 236 px seen, Lucid's transforms).
 */
async function measureParts(n: number, steps: number, rounds: number): Promise<void> {
  const [{ createEngine }, { loadModel }, { createRandom }, { channelObjective }, colour, fourier, { startSpectra }, { adamScalars, createAdam }, { defaultLucidParams: params }, transforms, kernelsModule] =
    await Promise.all([
      import('../pipeline/engine/create.js'),
      import('../pipeline/model/load.js'),
      import('../pipeline/util/random.js'),
      import('../pipeline/visualize/objective.js'),
      import('../pipeline/visualize/lucid/colour.js'),
      import('../pipeline/visualize/lucid/fourier.js'),
      import('../pipeline/visualize/lucid/loop.js'),
      import('../pipeline/visualize/adam.js'),
      import('../pipeline/schema/lucid-params.js'),
      import('../pipeline/visualize/lucid/transforms.js'),
      import('../pipeline/visualize/lucid/kernels.js'),
    ]);
  const { createKernels, fourierScratchLength, fourierTablesLength, writeFourierTables, samplerLengths, setUpSampler, colourMatrixArguments } = kernelsModule;
  const engine = await createEngine(await loadModel('darknet-tiny'), { engine: 'ort' });
  const basis = fourier.fourierBasis(params.size, params.decayPower);
  const { size, grid, perImage } = basis;
  const matrix = colour.colourMatrix(params.decorrelate);
  const m = colourMatrixArguments(matrix);
  const plane = size * size;
  const random = createRandom(1);
  const list = transforms.robustnessTransforms(params.transforms);
  const picture = { height: size, width: size };
  const seenSize = (transforms.drawTransforms(list, picture, createRandom(0)).at(-1) ?? picture).height;
  const seenPicture = { height: seenSize, width: seenSize };
  const perSeen = 3 * seenSize * seenSize;
  const fill = params.transforms.padValue;
  const objective = channelObjective(LAYER, 1000, Array.from({ length: n }, (_, i) => i));
  // The JavaScript side's arrays, and the same ones in a kernel instance's memory.
  const js = { spectrum: startSpectra(perImage, new Array<number>(n).fill(0), params, 0), planes: new Float32Array(n * 3 * plane), rgb: new Float32Array(n * 3 * plane), dRgb: new Float32Array(n * 3 * plane), dPlanes: new Float32Array(n * 3 * plane), dSpectrum: new Float32Array(n * perImage) };
  const adam = createAdam(n * perImage, { learningRate: params.learningRate, weightDecay: 0 });
  const kernels = createKernels();
  const run = kernels.exports;
  const sampling = samplerLengths(picture, seenPicture);
  const [spectrum, mo, vo, dSpectrum, planes, rgb, dRgb, seen, gradient, tables, scratch, corner, weights, samplerScratch] = kernels.arena([
    ...[0, 0, 0, 0].map(() => n * perImage),
    ...[0, 0, 0].map(() => n * 3 * plane),
    n * perSeen,
    n * perSeen,
    fourierTablesLength(grid),
    fourierScratchLength(grid),
    sampling.corner,
    sampling.weights,
    sampling.scratch,
  ]);
  writeFourierTables(basis, tables);
  spectrum.view.set(js.spectrum);
  const best = new Map<string, number>();
  const order: string[] = [];
  for (let round = -1; round < rounds; round++) {
    const spent = new Map<string, number>();
    const time = async (part: string, work: () => unknown) => {
      if (!order.includes(part)) order.push(part);
      const start = process.cpuUsage();
      await work();
      const { user, system } = process.cpuUsage(start);
      spent.set(part, (spent.get(part) ?? 0) + (user + system) / 1000);
    };
    for (let step = 0; step < steps; step++) {
      const draws = transforms.drawTransforms(list, picture, random);
      let view: ReturnType<typeof transforms.sampler> | undefined;
      let engineGradient: Float32Array = new Float32Array(0);
      await time('inverse FFT', () => fourier.spectrumToPlanes(basis, js.spectrum, n, js.planes));
      await time('inverse FFT kernel', () => run.spectrumToPlanes(tables.offset, spectrum.offset, planes.offset, n, size, grid, scratch.offset));
      await time('colour + sigmoid', () => colour.planesToRgb(js.planes, n, plane, matrix, js.rgb));
      await time('colour + sigmoid kernel', () => run.planesToRgb(planes.offset, rgb.offset, n, plane, ...m));
      await time('sampling', () => {
        view = transforms.sampler(picture, draws, fill);
        view.forward(js.rgb, 3 * n);
      });
      await time('sampling kernel', () => {
        setUpSampler(run, picture, draws, corner, weights);
        run.samplerForward(rgb.offset, seen.offset, n, size, size, seenSize, seenSize, fill, corner.offset, weights.offset, samplerScratch.offset);
      });
      await time('ENGINE', async () => {
        engineGradient = (await engine.objectiveGradient({ data: seen.view.slice(), n, height: seenSize, width: seenSize }, LAYER, objective.weights)).gradient;
      });
      gradient.view.set(engineGradient);
      await time('sampling adjoint', () => view!.adjoint(engineGradient, 3 * n, js.dRgb));
      await time('sampling adjoint kernel', () => run.samplerAdjoint(gradient.offset, dRgb.offset, n, size, size, seenSize, seenSize, corner.offset, weights.offset, samplerScratch.offset));
      await time('colour adjoint', () => colour.rgbToPlanesGradient(js.dRgb, js.rgb, n, plane, matrix, js.dPlanes));
      await time('colour adjoint kernel', () => run.rgbToPlanesGradient(dRgb.offset, rgb.offset, dRgb.offset, n, plane, ...m));
      await time('FFT adjoint', () => fourier.planesToSpectrumGradient(basis, js.dPlanes, n, js.dSpectrum));
      await time('FFT adjoint kernel', () => run.planesToSpectrumGradient(tables.offset, dRgb.offset, dSpectrum.offset, n, size, grid, scratch.offset));
      await time('gradient check', () => {
        for (let i = 0; i < n; i++) allFiniteValues(engineGradient, i * perSeen, (i + 1) * perSeen);
      });
      await time('gradient check kernel', () => {
        for (let i = 0; i < n; i++) run.gradientStatus(gradient.offset + 4 * i * perSeen, perSeen);
      });
      await time('Adam', () => {
        for (let i = 0; i < js.dSpectrum.length; i++) js.dSpectrum[i] = -js.dSpectrum[i];
        adam.step(js.spectrum, js.dSpectrum);
      });
      await time('Adam kernel', () => {
        const { stepSize, sqrtCorrection2 } = adamScalars(adam.steps, { learningRate: params.learningRate, weightDecay: 0 });
        run.adamStep(spectrum.offset, dSpectrum.offset, mo.offset, vo.offset, n * perImage, -1, stepSize, sqrtCorrection2, 0.9, 0.999, 1e-8);
      });
    }
    if (round < 0) continue; // warms up the JIT, the kernels' tiers and the engine's session
    for (const [part, ms] of spent) best.set(part, Math.min(best.get(part) ?? Infinity, ms / steps / n));
  }
  await engine.dispose();
  console.log(`batch ${n}, ${engine.info.device}, ${size} px seen at ${seenSize}: CPU ms per image and step on one thread (fastest of ${rounds} rounds of ${steps} steps), load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`  ${'part'.padEnd(18)} ${'JavaScript'.padStart(10)} ${'kernel'.padStart(8)} ${'speed-up'.padStart(8)}`);
  let [slowTotal, fastTotal] = [0, 0];
  for (const part of order.filter((p) => !p.endsWith(' kernel') && p !== 'ENGINE')) {
    const [slow, fast] = [best.get(part)!, best.get(`${part} kernel`)!];
    [slowTotal, fastTotal] = [slowTotal + slow, fastTotal + fast];
    console.log(`  ${part.padEnd(18)} ${slow.toFixed(2).padStart(10)} ${fast.toFixed(2).padStart(8)} ${(slow / fast).toFixed(1).padStart(7)}x`);
  }
  console.log(`  ${'all parts'.padEnd(18)} ${slowTotal.toFixed(2).padStart(10)} ${fastTotal.toFixed(2).padStart(8)} ${(slowTotal / fastTotal).toFixed(1).padStart(7)}x`);
  console.log(`  against the engine's gradient pass: ${best.get('ENGINE')!.toFixed(2)} ms (CPU time of both its threads)`);
}

/** The loop's check before the kernels (visualize/loop.ts allFinite): whether every value is finite. */
function allFiniteValues(data: Float32Array, start: number, end: number): boolean {
  let sum = 0;
  for (let i = start; i < end; i++) sum += data[i] * 0;
  return sum === 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await measureParts(Number(process.argv[2] ?? 16), Number(process.argv[3] ?? 4), Number(process.argv[4] ?? 3));
}
