/**
 * `npm run bench [-- --json] [-- --engines ort,tfjs,pytorch]`: seconds per step (forward +
 * input gradient, median after warm-up) for VGG16-BN (generated weights) to layer 42 at 112 and
 * 224 px, batch 1 and 8, ResNet-50 to layer4 and EfficientNet-B0 to features.8 (torchvision's
 * initialisation, ONNX exports) at 224 px, batch 1 and 8, and darknet-tiny to conv2d_16 at 224 px,
 * on each engine, with the
 * PyTorch reference of the same configuration measured in the same run (docs/design.md section 10:
 * ratios, never absolute times from another run). Rows of one configuration run back to back
 * so that load from other processes hits them alike. Then the visualisation rows (seconds per
 * filter of the whole method, bench/visualize.ts), and the lucid row (seconds per filter at 224 px and the
 * share of a step outside the engine, bench/lucid-step.ts; `--lucid`: only the lucid rows, batches 1 to
 * 16). Cases too large for the tfjs wasm heap are skipped with the reason (bench/wasm-heap.ts).
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, Option } from 'commander';
import type { EngineName } from '../pipeline/engine/engine.js';
import { DEVICE_NAMES, type DeviceName } from '../pipeline/schema/device.js';
import { formatPlacement } from '../pipeline/engine/ort/placement.js';
import { exitWithError } from '../pipeline/cli/exit.js';
import { EnginePool, engineCase } from './engines.js';
import { measureOverhead } from './overhead.js';
import { darknetTiny, generatedVgg16Bn, torchvisionModel } from './models.js';
import { findPytorch, findTorchvision, pytorchTorchvisionCase, pytorchVggCase } from './pytorch.js';
import { runBench, type BenchCase, type BenchRow } from './runner.js';
import { formatTable } from './table.js';
import { runVisualizeBench } from './visualize.js';
import { runPeakBench } from './peak.js';
import { formatLucidTable, runLucidBench } from './lucid-step.js';

const ENGINES = ['pytorch', 'ort', 'tfjs'] as const;
/** torchvision classifiers benched to a late module (their ONNX exports keep module paths as aliases). */
const TORCHVISION_ROWS = [['resnet50', 'layer4'], ['efficientnet_b0', 'features.8']] as const;
type BenchEngine = (typeof ENGINES)[number];
/** The lucid rows of `--lucid`, and the batch of the lucid row of a full bench. */
const LUCID_BATCHES = [1, 2, 4, 8, 16] as const;
const LUCID_DEFAULT_BATCH = 16;

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

async function buildCases(engines: Set<BenchEngine>, pool: EnginePool, log: (line: string) => void): Promise<BenchCase[]> {
  const cases: BenchCase[] = [];
  const referenceFolder = resolve(repoRoot, '../shared/reference');
  const pytorch = engines.has('pytorch') ? await findPytorch(referenceFolder) : undefined;
  if (pytorch && 'missing' in pytorch) log(`bench: no PyTorch reference rows: ${pytorch.missing}`);
  const ours = ENGINES.filter((e): e is EngineName => e !== 'pytorch' && engines.has(e));
  for (const [size, batch] of [[112, 1], [112, 8], [224, 1], [224, 8]] as const) {
    if (pytorch && !('missing' in pytorch)) cases.push(pytorchVggCase(pytorch, size, batch));
    for (const engine of ours) {
      cases.push(engineCase(pool, { engine, modelName: 'vgg16_bn', layer: '42', size, batch }));
    }
  }
  // Today's CNNs through their ONNX exports (the exports need torchvision too).
  const torchvision = engines.has('pytorch') || ours.length > 0 ? await findTorchvision() : undefined;
  if (torchvision && 'missing' in torchvision) log(`bench: no ResNet-50 / EfficientNet-B0 rows: ${torchvision.missing}`);
  else if (torchvision) {
    for (const [arch, layer] of TORCHVISION_ROWS) {
      for (const batch of [1, 8]) {
        if (engines.has('pytorch')) cases.push(pytorchTorchvisionCase(torchvision.device, arch, layer, 224, batch));
        for (const engine of ours) cases.push(engineCase(pool, { engine, modelName: arch, layer, size: 224, batch }));
      }
    }
  }
  // No PyTorch step script for darknet-tiny: these rows have no ratio.
  for (const batch of [1, 8]) {
    for (const engine of ours) cases.push(engineCase(pool, { engine, modelName: 'darknet-tiny', layer: 'conv2d_16', size: 224, batch }));
  }
  return cases;
}

/** The step-overhead rows (bench/overhead.ts): a small and a large image, one and eight per batch, two models. */
async function runOverheadRows(pool: EnginePool, device: DeviceName, json: boolean, log: (line: string) => void): Promise<void> {
  const percent = (v: number) => `${(100 * v).toFixed(1)} %`;
  for (const [modelName, layer] of [['darknet-tiny', 'conv2d_16'], ['vgg16_bn', '42']] as const) {
    const engine = await pool.engine('ort', modelName);
    for (const [size, batch] of [[56, 1], [56, 8], [224, 1], [224, 8]] as const) {
      const row = await measureOverhead(engine, await pool.model(modelName), layer, size, batch, 3);
      if (json) console.log(JSON.stringify(row));
      else {
        log(
          `bench: overhead ${modelName} ${layer} ${size}x${batch} on ${device}: ${row.seconds_per_step.toFixed(3)} s/step, host ${row.host_seconds_per_step.toFixed(4)} s ` +
            `(${percent(row.host_share)}; transforms ${row.transform_seconds_per_step.toFixed(4)} s), host share if the engine were 10x / 100x faster: ${percent(row.host_share_if_engine_10x)} / ${percent(row.host_share_if_engine_100x)}`,
        );
      }
    }
  }
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('bench')
    .description('Seconds per optimisation step (forward + input gradient) per engine, against PyTorch in the same run.')
    .option('--json', 'one JSON object per row on stdout')
    .addOption(new Option('--engines <list>', 'comma-separated engines to run').default(ENGINES.join(',')))
    .option('--no-visualize', 'skip the visualisation rows (bench/visualize.ts)')
    .addOption(new Option('--device <device>', 'where our engines run; auto tries cuda, then webgpu, then cpu').choices(DEVICE_NAMES).default('auto'))
    .option('--verbose', 'print where ONNX Runtime ran the nodes of each program (one line per program)')
    .option('--lucid', 'only the lucid rows: seconds per filter at 224 px and the share outside the engine, batches 1, 2, 4, 8, 16 (bench/lucid-step.ts)')
    .option('--lucid-steps <n>', 'timed steps per lucid row (extrapolated to 512)', '8')
    .option('--lucid-rounds <n>', 'rounds over the lucid batches; each row is its fastest round', '1')
    .option('--overhead', 'only the step-overhead rows: host (JavaScript) against engine share of a step (bench/overhead.ts)')
    .option('--peak', "only the peak: onnxruntime MatMul 2048^3 in GFLOP/s, stored in the asset cache for `build`'s summary and `plan` (bench/peak.ts)")
    .option('--threads <n>', 'engine threads for --peak (default: every core, as the engine)')
    .parse(argv);
  const options = program.opts<{ json?: boolean; engines: string; visualize: boolean; device: DeviceName; verbose?: boolean; overhead?: boolean; peak?: boolean; threads?: string; lucid?: boolean; lucidSteps: string; lucidRounds: string }>();
  const requested = options.engines.split(',').map((e) => e.trim());
  const unknown = requested.filter((e) => !(ENGINES as readonly string[]).includes(e));
  if (unknown.length) {
    const { userError } = await import('../pipeline/errors.js');
    throw userError({ where: '--engines', expected: `a comma-separated subset of ${ENGINES.join(', ')}`, received: JSON.stringify(unknown.join(',')) });
  }
  const json = options.json === true;
  const log = (line: string) => process.stderr.write(line + '\n');
  const started = Date.now();
  const { parseCount } = await import('../pipeline/cli/commands/visualize.js');
  const lucidSteps = parseCount('--lucid-steps', options.lucidSteps, 1);
  const lucidRounds = parseCount('--lucid-rounds', options.lucidRounds, 1);
  const lucidRows = async (batches: readonly number[]) => {
    const rows = await runLucidBench({ batches, steps: lucidSteps, rounds: lucidRounds, device: options.device, log });
    if (json) for (const row of rows) console.log(JSON.stringify(row));
    else console.log('\n' + formatLucidTable(rows));
  };
  if (options.lucid) {
    await lucidRows(LUCID_BATCHES);
    log(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return;
  }
  if (options.peak) {
    const { parseThreads } = await import('../pipeline/cli/commands/threads-flag.js');
    await runPeakBench({ ...(options.threads !== undefined ? { threads: parseThreads(options.threads) } : {}), log, json });
    return;
  }
  const pool = new EnginePool(
    {
      vgg16_bn: generatedVgg16Bn,
      'darknet-tiny': darknetTiny,
      ...Object.fromEntries(TORCHVISION_ROWS.map(([arch]) => [arch, () => torchvisionModel(arch)])),
    },
    { device: options.device, ...(options.verbose ? { onPlacement: (report) => log(`bench: ${formatPlacement(report)}`) } : {}) },
  );
  if (options.overhead) {
    try {
      await runOverheadRows(pool, options.device, json, log);
    } finally {
      await pool.dispose();
    }
    log(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
    return;
  }
  let rows: BenchRow[];
  try {
    const cases = await buildCases(new Set(requested as BenchEngine[]), pool, log);
    log(`bench: ${cases.length} cases; 2 shared cores make timings noisy, so compare the ratios of one run`);
    rows = await runBench(cases, {
      onRow: (row) => {
        if (json) console.log(JSON.stringify(row));
        else log(`bench: ${row.engine} ${row.model} ${row.layer} ${row.size}x${row.batch}: ${row.seconds_per_step.toFixed(3)} s/step on ${row.device}${row.placement ? ` (${row.placement})` : ''}`);
      },
      onSkip: (c, reason) => log(`bench: ${c.engine} ${c.model} ${c.layer} ${c.size}x${c.batch}: ${reason}`),
    });
  } finally {
    await pool.dispose();
  }
  if (!json) console.log(formatTable(rows, 'seconds_per_step'));
  if (options.visualize) {
    // The whole method per filter (bench/visualize.ts): one filter at a time vs batched, vs PyTorch.
    const visualizeRows = await runVisualizeBench({ json, log, device: options.device });
    if (json) for (const row of visualizeRows) console.log(JSON.stringify(row));
    else if (visualizeRows.length) console.log('\n' + formatTable(visualizeRows, 'seconds_per_filter'));
    // The lucid method at config/lucid.yaml's batch (16, the measured best).
    await lucidRows([LUCID_DEFAULT_BATCH]);
  }
  log(`bench: done in ${((Date.now() - started) / 1000).toFixed(0)} s`);
}

try {
  await main(process.argv);
} catch (error) {
  exitWithError(error);
}
