/**
 * Visualisation bench: seconds per filter for the whole method (multi-scale ascent, transforms,
 * Adam) on darknet-tiny with a shortened schedule, one filter at a time vs batched, on onnxruntime
 * and on the PyTorch reference (../shared/reference/seed_reference.py) with the same schedule in
 * the same run. Both sides run the article's exact method here (model space, no clipping), so the
 * work is identical. Compare ratios within one run only (docs/design.md section 10).
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { DeviceName } from '../pipeline/schema/device.js';

export interface VisualizeBenchRow {
  engine: 'ort' | 'pytorch';
  model: 'darknet-tiny';
  layer: string;
  /** Final image side of the schedule. */
  size: number;
  batch: number;
  seconds_per_filter: number;
  /** PyTorch seconds / these seconds (> 1: faster than PyTorch) for the same batch size. */
  ratio_vs_pytorch?: number;
  scales: number;
  steps: number;
  filters: number;
  device: string;
}

export interface VisualizeBenchOptions {
  json: boolean;
  /** @default 'leaky_re_lu_12' (the layer the reference README measured) */
  layer?: string;
  /** @default 4 (56 -> 96 px) */
  scales?: number;
  /** @default 5 */
  steps?: number;
  /** Filters per configuration, also the batched batch size. @default 8 */
  filters?: number;
  log?: (line: string) => void;
  /** @default 'auto' */
  device?: DeviceName;
}

const PYTHON = '/usr/bin/python3';
const run = promisify(execFile);
const referenceFolder = resolve(dirname(fileURLToPath(import.meta.url)), '../../shared/reference');

/** "PyTorch <version> cpu, 2 threads", or why the reference cannot run here. */
async function findPytorch(): Promise<{ device: string } | { missing: string }> {
  if (!existsSync(join(referenceFolder, 'seed_reference.py'))) return { missing: `no ${join(referenceFolder, 'seed_reference.py')}` };
  try {
    const { stdout } = await run(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { timeout: 60_000 });
    return { device: `PyTorch ${stdout.trim()} cpu, 2 threads` };
  } catch {
    return { missing: `${PYTHON} cannot import torch (apt-get install python3-torch)` };
  }
}

/** Mean seconds per filter from seed_reference.py's JSON lines (each filter row carries its seconds). */
async function pytorchSecondsPerFilter(args: string[]): Promise<number> {
  const out = await mkdtemp(join(tmpdir(), 'fa-bench-ref-'));
  try {
    const { stdout } = await run(PYTHON, ['seed_reference.py', ...args, '--out', out, '--json'], { cwd: referenceFolder, timeout: 1_800_000 });
    const rows = stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { filter?: number; seconds: number })
      .filter((row) => row.filter !== undefined);
    return rows.reduce((sum, row) => sum + row.seconds, 0) / rows.length;
  } finally {
    await rm(out, { recursive: true, force: true });
  }
}

export async function runVisualizeBench(options: VisualizeBenchOptions): Promise<VisualizeBenchRow[]> {
  const log = options.log ?? ((line: string) => process.stderr.write(line + '\n'));
  const layer = options.layer ?? 'leaky_re_lu_12';
  const scales = options.scales ?? 4;
  const steps = options.steps ?? 5;
  const count = options.filters ?? 8;
  const filters = Array.from({ length: count }, (_, i) => i);
  const [{ loadModel }, { createEngine }, { findLayer }, { sweepFilters }, { methodParamsSchema, finalSize }, { ensureAsset }] =
    await Promise.all([
      import('../pipeline/model/load.js'),
      import('../pipeline/engine/create.js'),
      import('../pipeline/model/layers.js'),
      import('../pipeline/visualize/sweep.js'),
      import('../pipeline/schema/article-params.js'),
      import('../pipeline/assets/index.js'),
    ]);
  // The reference runs the article exactly: the model's own input space, no clipping.
  const params = methodParamsSchema.parse({ scales, stepsPerScale: steps, space: 'model', clipBetweenScales: false });
  const size = finalSize(params);
  const model = await loadModel('darknet-tiny');
  const { channels } = findLayer(model, layer);
  const common = { model: 'darknet-tiny' as const, layer, size, scales, steps, filters: count };
  const rows: VisualizeBenchRow[] = [];

  const engine = await createEngine(model, { engine: 'ort', ...(options.device ? { device: options.device } : {}) });
  try {
    for (const batch of [1, count]) {
      const sweep = () => sweepFilters(engine, { layer, channels, filters, method: { kind: 'article', params }, seed: 0, batchSize: batch, preprocessing: model.preprocessing });
      // A first pass builds and caches the sessions for every size of the schedule; the second is timed.
      await sweep();
      const started = performance.now();
      await sweep();
      const seconds = (performance.now() - started) / 1000 / count;
      rows.push({ engine: 'ort', ...common, batch, seconds_per_filter: seconds, device: engine.info.device });
      log(`bench visualize: ort ${layer} batch ${batch}: ${seconds.toFixed(3)} s/filter (${scales} scales x ${steps} steps, ${size} px)`);
    }
  } finally {
    await engine.dispose();
  }

  const pytorch = await findPytorch();
  if ('missing' in pytorch) {
    log(`bench visualize: no PyTorch reference rows: ${pytorch.missing}`);
    return rows;
  }
  const weights = await ensureAsset('darknet-tiny');
  const args = ['--model', 'darknet-tiny', '--weights', weights, '--layer', layer, '--filters', filters.join(','), '--scales', String(scales), '--steps', String(steps)];
  for (const batch of [1, count]) {
    const seconds = await pytorchSecondsPerFilter(batch === 1 ? args : [...args, '--batch']);
    rows.push({ engine: 'pytorch', ...common, batch, seconds_per_filter: seconds, device: pytorch.device });
    log(`bench visualize: pytorch ${layer} batch ${batch}: ${seconds.toFixed(3)} s/filter`);
  }
  for (const row of rows) {
    const reference = rows.find((r) => r.engine === 'pytorch' && r.batch === row.batch);
    if (row.engine === 'ort' && reference) row.ratio_vs_pytorch = reference.seconds_per_filter / row.seconds_per_filter;
  }
  if (!options.json) {
    for (const row of rows) {
      const ratio = row.ratio_vs_pytorch === undefined ? '' : `  x${row.ratio_vs_pytorch.toFixed(2)} vs PyTorch`;
      log(`  ${row.engine.padEnd(8)} batch ${String(row.batch).padStart(2)}: ${row.seconds_per_filter.toFixed(3)} s/filter${ratio}`);
    }
  }
  return rows;
}
