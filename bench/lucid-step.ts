/**
 * The lucid method's speed on darknet-tiny conv2d_16 at Lucid's defaults (224 px picture, 236 px seen by
 * the engine), two measurements:
 *
 * - `runLucidBench` (the lucid rows of `npm run bench`; `npm run bench -- --lucid` for batches 1 to 16):
 *   the real loop (pipeline/visualize/lucid/loop.ts) for a few timed steps after a warm-up, as seconds per
 *   filter at the method's default step count (extrapolated from the timed steps: every step does the same work) and the share
 *   of a step's wall time spent outside the engine's run (the JavaScript: parameterisation, transforms,
 *   their adjoints, Adam; on worker threads where the batch allows, lucid/threads.ts).
 * - `npx tsx bench/lucid-step.ts [batch]`: where the JavaScript's time goes, part by part, on one thread,
 *   against the engine's forward + backward pass (CPU time of this process per image and step).
 */
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

/** Part by part, on one thread: CPU milliseconds per image and step. */
async function measureParts(n: number, steps: number): Promise<void> {
  const [{ createEngine }, { loadModel }, { createRandom }, { channelObjective }, colour, fourier, { startSpectra }, { createAdam }, { defaultLucidParams: params }, transforms] =
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
    ]);
  const engine = await createEngine(await loadModel('darknet-tiny'), { engine: 'ort' });
  const basis = fourier.fourierBasis(params.size, params.decayPower);
  const matrix = colour.colourMatrix(true);
  const plane = params.size * params.size;
  const spectrum = startSpectra(basis.perImage, new Array<number>(n).fill(0), params, 0);
  const adam = createAdam(spectrum.length, { learningRate: params.learningRate, weightDecay: 0 });
  const objective = channelObjective(LAYER, 1000, Array.from({ length: n }, (_, i) => i));
  const random = createRandom(1);
  const list = transforms.robustnessTransforms(params.transforms);
  const picture = { height: params.size, width: params.size };
  const [planes, rgb, dRgb, dPlanes, dSpectrum] = [plane, plane, plane, plane, basis.perImage / 3].map((per) => new Float32Array(n * 3 * per));
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const spent = new Map<string, number>();
  let last = 0;
  const lap = (part: string, count: boolean) => {
    const now = cpu();
    if (count) spent.set(part, (spent.get(part) ?? 0) + now - last);
    last = now;
  };
  for (let step = -1; step < steps; step++) {
    const count = step >= 0; // step -1 warms up the engine's session and the JIT
    last = cpu();
    fourier.spectrumToPlanes(basis, spectrum, n, planes);
    lap('inverse FFT', count);
    colour.planesToRgb(planes, n, plane, matrix, rgb);
    lap('colour + sigmoid', count);
    const view = transforms.sampler(picture, transforms.drawTransforms(list, picture, random), params.transforms.padValue);
    const seen = view.forward(rgb, 3 * n);
    lap('transforms (sampling)', count);
    const result = await engine.objectiveGradient({ data: seen, n, ...view.output }, LAYER, objective.weights);
    lap('ENGINE', count);
    view.adjoint(result.gradient, 3 * n, dRgb);
    lap('transforms adjoint', count);
    colour.rgbToPlanesGradient(dRgb, rgb, n, plane, matrix, dPlanes);
    lap('colour adjoint', count);
    fourier.planesToSpectrumGradient(basis, dPlanes, n, dSpectrum);
    lap('FFT adjoint', count);
    for (let i = 0; i < dSpectrum.length; i++) dSpectrum[i] = -dSpectrum[i];
    adam.step(spectrum, dSpectrum);
    lap('Adam', count);
  }
  await engine.dispose();
  const total = [...spent.values()].reduce((a, b) => a + b, 0);
  const engineMs = spent.get('ENGINE') ?? 0;
  console.log(`batch ${n}, ${engine.info.device}, CPU ms per image and step (one JavaScript thread, ${steps} steps):`);
  for (const [part, ms] of spent) console.log(`  ${part.padEnd(22)} ${(ms / steps / n).toFixed(2).padStart(7)}`);
  console.log(`  JavaScript ${((total - engineMs) / steps / n).toFixed(2)} ms against the engine's ${(engineMs / steps / n).toFixed(2)} ms (CPU time: the engine's counts both its threads)`);

  // The transforms as one composed sampling (what the loop does) against one sampling per transform.
  let [composed, chained] = [0, 0];
  for (let step = 0; step < steps; step++) {
    const draws = transforms.drawTransforms(list, picture, random);
    const t0 = performance.now();
    transforms.sampler(picture, draws, params.transforms.padValue).forward(rgb, 3 * n);
    const t1 = performance.now();
    let data: Float32Array = rgb;
    let size = picture;
    for (const draw of draws) {
      const one = transforms.sampler(size, [draw], params.transforms.padValue);
      data = one.forward(data, 3 * n);
      size = one.output;
    }
    chained += performance.now() - t1;
    composed += t1 - t0;
  }
  console.log(`transforms forward, batch ${n}: one composed sampling ${(composed / steps).toFixed(1)} ms a step, one sampling per transform ${(chained / steps).toFixed(1)} ms (wall)`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await measureParts(Number(process.argv[2] ?? 4), Number(process.argv[3] ?? 8));
}
