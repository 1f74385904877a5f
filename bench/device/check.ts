/**
 * The filter-atlas half of the device check (scripts/device-check.sh runs it from the pack, after
 * scripts/device_check_torch.py): on the device asked for, VGG16-BN (the weights PyTorch generated)
 *  1. starts the onnxruntime engine and reports where the nodes of the layer-42 gradient ran;
 *  2. compares its objective and input gradient with PyTorch's float64 reference;
 *  3. times the step to features.42 at 224 x 1 and 224 x 8, beside PyTorch's time for the same step
 *     (--size and --batch shrink the reference, these steps and the schedule batch for a dry run on a
 *     software adapter; the summary's `reduced` says so);
 *  4. runs one batch of layer-40 filters at the article's full schedule (12 scales x 20 steps,
 *     56 -> 408 px), timing the engine's share of it (the rest is JavaScript on the host), after
 *     building its sessions (once per size in a whole build, so not counted per batch);
 * and prints one JSON summary with the seconds per filter, the projected time of the article's
 * atlas, and what ran on the device: nodes per provider, copies, bytes per step. A deadline keeps
 * the whole check inside one command's time: what does not fit is cut short and projected from what
 * ran.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../../pipeline/config/load.js';
import type { Engine, PlacementReport } from '../../pipeline/engine/engine.js';
import { DEVICE_NAMES, type DeviceName } from '../../pipeline/schema/device.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { formatPlacement } from '../../pipeline/engine/ort/placement.js';
import { softwareOnly } from '../../pipeline/engine/ort/providers.js';
import { describeGpuFacts, gpuFacts } from '../../pipeline/engine/ort/vulkan.js';
import { modelFromSafetensors } from '../../pipeline/model/from-file.js';
import { findLayer } from '../../pipeline/model/layers.js';
import { visualizeBatch } from '../../pipeline/visualize/batch.js';
import { filterCost } from '../../pipeline/visualize/cost.js';
import { scaleSizes } from '../../pipeline/schema/article-params.js';
import { timed } from '../overhead.js';
import { timeSteps } from '../runner.js';
import { projectAtlas, relativeError, relativeL2Error, scheduleFractionDone, scheduleParams } from './projection.js';
import { ascentTransfersPerStep, onDevice } from './residency.js';

/** The real check's image side and batch; anything else is a reduced dry run, labelled in the summary. */
const FULL_SIZE = 224;
const FULL_BATCH = 8;

/** The article's layer-40 gallery (config/article.yaml): the batch's filters come from it. */
const GALLERY_40 = [4, 9, 34, 35, 75, 123, 150, 158, 203, 234, 246, 253, 256, 261, 265, 277, 286, 462];

interface TorchResult {
  device: string;
  gpu: string | null;
  torch: string;
  steps: Array<{ size: number; batch: number; seconds_per_step: number }>;
  schedule: { batch: number; sizes: number[]; seconds_per_filter_estimate: number } | null;
}

interface Reference {
  size: number;
  batch: number;
  layer: string;
  filters: number[];
  image: string;
  gradient: string;
  objective_fp64: number[];
  torch_fp32_gradient_relative_error: number;
}

const log = (line: string) => process.stderr.write(`device-check: ${line}\n`);
const round = (value: number, digits = 4) => Number(value.toPrecision(digits));

async function f32(file: string): Promise<Float32Array> {
  const bytes = await readFile(file);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function options() {
  const { values } = parseArgs({
    options: {
      work: { type: 'string' },
      device: { type: 'string', default: 'webgpu' },
      config: { type: 'string' },
      quick: { type: 'boolean', default: false },
      size: { type: 'string', default: String(FULL_SIZE) },
      batch: { type: 'string', default: String(FULL_BATCH) },
      'deadline-seconds': { type: 'string', default: '360' },
    },
  });
  if (!values.work || !values.config) throw new Error('usage: check --work DIR --config config/article.yaml [--device webgpu] [--quick] [--size 224] [--batch 8] [--deadline-seconds 360]');
  if (!(DEVICE_NAMES as readonly string[]).includes(values.device!)) throw new Error(`--device: expected one of ${DEVICE_NAMES.join(', ')}`);
  // The same bounds as scripts/device-check.sh and device_check_torch.py: features.42 is 1/16 of the side.
  const size = wholeNumber('--size', values.size!, 32, FULL_SIZE);
  const batch = wholeNumber('--batch', values.batch!, 1, GALLERY_40.length);
  // The real check is one thing: smaller figures only in the dry run, which says so.
  if ((size !== FULL_SIZE || batch !== FULL_BATCH) && !values.quick) throw new Error(`--size ${size} --batch ${batch}: these shrink the dry run; add --quick, or leave them at ${FULL_SIZE} and ${FULL_BATCH} for the real check`);
  return { work: values.work, config: values.config, device: values.device as DeviceName, quick: values.quick!, size, batch, deadline: Date.now() + 1000 * Number(values['deadline-seconds']) };
}

function wholeNumber(name: string, text: string, low: number, high: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < low || value > high) throw new Error(`${name}: expected a whole number from ${low} to ${high}, received ${JSON.stringify(text)}`);
  return value;
}

async function main(): Promise<void> {
  const started = Date.now();
  const args = options();
  const torch = JSON.parse(await readFile(path.join(args.work, 'torch.json'), 'utf8')) as TorchResult;
  const reference = JSON.parse(await readFile(path.join(args.work, 'reference.json'), 'utf8')) as Reference;
  const reduced = args.size !== FULL_SIZE || args.batch !== FULL_BATCH;
  const summary: Record<string, unknown> = {
    check: 'filter-atlas device check',
    mode: args.quick ? 'quick (dry run: shortened schedule)' : 'full',
    // Read before any figure below: these are not the check's numbers.
    ...(reduced
      ? { reduced: { size: args.size, batch: args.batch, note: `reference ${reference.batch} x ${reference.size} px, steps at ${args.size} x 1 and ${args.size} x ${args.batch}, a schedule batch of ${args.batch} filters from ${args.size === FULL_SIZE ? 56 : args.size} px (--size, --batch): a dry run, not the check's ${FULL_SIZE} px and ${FULL_BATCH}-filter figures` } }
      : {}),
    node: process.version,
    device_asked: args.device,
    // PyTorch's numbers first: they stand even when our engine cannot start on the device.
    torch: { version: torch.torch, device: torch.device, gpu: torch.gpu, steps: torch.steps, seconds_per_filter_estimate: torch.schedule ? round(torch.schedule.seconds_per_filter_estimate) : undefined },
    ...(process.platform === 'linux' ? { gpu_facts: describeGpuFacts(gpuFacts()) } : {}),
  };
  const errors: string[] = [];
  const model = await modelFromSafetensors(path.join(args.work, 'vgg16_bn.safetensors'), 'vgg16_bn');
  const placements: PlacementReport[] = [];
  let engine: Engine;
  try {
    engine = await createOrtEngine(model, { engine: 'ort', device: args.device, onPlacement: (r) => (placements.push(r), log(formatPlacement(r))) });
  } catch (error) {
    summary.status = 'failed';
    summary.errors = [error instanceof Error ? error.message : String(error)];
    summary.elapsed_seconds = round((Date.now() - started) / 1000);
    process.stdout.write(JSON.stringify(summary) + '\n');
    process.exitCode = 1;
    return;
  }
  summary.engine = engine.info;
  log(engine.info.selection ?? `engine on ${engine.info.device}`);
  if (engine.info.deviceKind === 'webgpu' && process.platform === 'linux' && softwareOnly(gpuFacts())) {
    summary.software_adapter = true;
    summary.speed_note = 'WebGPU on a CPU-emulated adapter (SwiftShader or lavapipe): placement, copies, bytes and numerics are the GPU path\'s, but every time and projection here is a CPU emulation\'s (about 100x slower than --device cpu) and says nothing about a GPU';
  }
  try {
    // 2. Numerics against PyTorch float64.
    const image = await f32(path.join(args.work, reference.image));
    const { node, channels } = findLayer(model, reference.layer);
    const weights = new Float32Array(reference.batch * channels);
    reference.filters.forEach((filter, n) => (weights[n * channels + filter] = 1));
    const ours = await engine.objectiveGradient({ data: image, n: reference.batch, height: reference.size, width: reference.size }, node.name, weights);
    const want = await f32(path.join(args.work, reference.gradient));
    summary.numerics = {
      what: `objective and input gradient of features.42, ${reference.batch} x ${reference.size} px, filters ${reference.filters.join(', ')}, against PyTorch float64`,
      objective_relative_error: round(relativeError(ours.objective, reference.objective_fp64)),
      gradient_relative_error: round(relativeError(ours.gradient, want)),
      gradient_relative_l2_error: round(relativeL2Error(ours.gradient, want)),
      torch_float32_gradient_relative_error: round(reference.torch_fp32_gradient_relative_error),
    };
    log(`numerics: ${JSON.stringify(summary.numerics)}`);

    // 3. Steps at 224 x 1 and 224 x 8 (--size, --batch), beside PyTorch's.
    const steps = [];
    const size = args.size;
    for (const batch of [1, args.batch]) {
      const data = new Float32Array(batch * 3 * size * size).map((_, i) => ((i * 2654435761) % 1000) / 1000);
      const w = new Float32Array(batch * channels);
      for (let n = 0; n < batch; n++) w[n * channels + ((n * 7) % channels)] = 1;
      const timing = args.quick ? { warmup: 1, minSteps: 1, maxSteps: 1 } : { warmup: 1, minSteps: 3, maxSteps: 10, budgetSeconds: 10 };
      const { secondsPerStep, steps: n } = await timeSteps(() => engine.objectiveGradient({ data, n: batch, height: size, width: size }, node.name, w), timing);
      const theirs = torch.steps.find((s) => s.size === size && s.batch === batch)?.seconds_per_step;
      steps.push({ size, batch, seconds_per_step: round(secondsPerStep), steps: n, torch_seconds_per_step: theirs, torch_over_ours: theirs ? round(theirs / secondsPerStep, 3) : undefined });
      log(`step ${size}x${batch}: ${secondsPerStep.toFixed(4)} s (PyTorch ${torch.device}: ${theirs?.toFixed(4)} s)`);
    }
    summary.steps = steps;
    const gradientTimed = placements.find((p) => p.graph.startsWith('gradient|') && p.graph.endsWith(`|${size}x${size}`));
    if (gradientTimed) summary.placement = { line: formatPlacement(gradientTimed), ...gradientTimed };

    // 4. One batch of layer-40 filters at the schedule, cut at the deadline.
    // A dry run at --size starts its two scales there (the real dry run at 56 px, the article's start).
    const params = scheduleParams(args.quick, args.size !== FULL_SIZE ? args.size : undefined);
    const layer40 = findLayer(model, '40');
    const filters = GALLERY_40.slice(0, args.batch);
    // A build creates one session per image size and reuses it for every later batch (on a GPU,
    // creating one compiles its shaders: seconds). Built first, untimed, so that the batch's time is
    // what each further batch of the atlas costs.
    const warmStart = Date.now();
    const sizes = scaleSizes(params);
    let sessionSizes = 0;
    for (const size of sizes) {
      if (Date.now() > args.deadline - 60_000) break;
      sessionSizes += 1;
      const batch = { data: new Float32Array(filters.length * 3 * size * size).fill(0.5), n: filters.length, height: size, width: size };
      const w = new Float32Array(filters.length * layer40.channels);
      filters.forEach((filter, n) => (w[n * layer40.channels + filter] = 1));
      if (engine.startAscent) {
        // The visualisation runs the ascent program there (and reads the pictures back): build those.
        const ascent = await engine.startAscent({ params: batch.data, n: batch.n, height: size, width: size, layer: layer40.node.name, channelWeights: w, space: model.preprocessing, frozen: filters.map(() => false), adam: { weightDecay: params.weightDecay, beta1: 0.9, beta2: 0.999, eps: 1e-8 } });
        try {
          await ascent.step(0.05, Math.sqrt(0.001));
          await ascent.finish();
        } finally {
          await ascent.dispose();
        }
      } else await engine.objectiveGradient(batch, layer40.node.name, w);
      if (size === sizes[0] || size === sizes[sizes.length - 1]) await engine.forward(batch, [layer40.node.name]);
    }
    const sessionSeconds = (Date.now() - warmStart) / 1000;
    const rest = sessionSizes < sizes.length ? '; the deadline being near, the rest are built inside the timed batch' : '';
    log(`sessions for ${sessionSizes} of ${sizes.length} sizes built first (one untimed step each) in ${sessionSeconds.toFixed(1)} s${rest}`);
    const spent = { seconds: 0 };
    let stepsDone = 0;
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error('deadline')), Math.max(0, args.deadline - Date.now()));
    const batchStart = Date.now();
    const movedBefore = engine.bytesMoved?.();
    let completed = true;
    try {
      await visualizeBatch(timed(engine, spent), { layer: layer40.node.name, channels: layer40.channels, filters, method: { kind: 'article', params }, seed: 0, signal: controller.signal, onStep: (done) => (stepsDone = done) });
    } catch (error) {
      if (!controller.signal.aborted) throw error;
      completed = false;
      errors.push(`the schedule batch was cut at the deadline after ${stepsDone} of ${params.scales * params.stepsPerScale} steps`);
    } finally {
      clearTimeout(timer);
    }
    const seconds = (Date.now() - batchStart) / 1000;
    const movedAfter = engine.bytesMoved?.();
    const fraction = completed ? 1 : scheduleFractionDone(model, layer40.node.name, params, stepsDone);
    if (fraction === 0) throw new Error('no step of the schedule batch finished before the deadline: nothing to project from (give the check more time: --budget-seconds)');
    const secondsPerFilter = seconds / fraction / filters.length;
    const article = scheduleParams(false);
    // The same engine on the article's schedule: equal to secondsPerFilter when that schedule ran to the end.
    const secondsPerArticleFilter = (secondsPerFilter * filterCost(model, layer40.node.name, { kind: 'article', params: article })) / filterCost(model, layer40.node.name, { kind: 'article', params });
    summary.schedule = {
      layer: 'features.40',
      filters,
      batch: filters.length,
      sizes: scaleSizes(params),
      steps_per_scale: params.stepsPerScale,
      completed,
      steps_done: stepsDone,
      sessions_built_first: sessionSizes,
      sessions_seconds: round(sessionSeconds),
      seconds: round(seconds),
      seconds_per_filter: round(secondsPerFilter),
      seconds_per_filter_article_schedule: round(secondsPerArticleFilter),
      engine_share: round(spent.seconds / seconds, 3),
      host_share: round(1 - spent.seconds / seconds, 3),
      torch_seconds_per_filter_estimate: torch.schedule ? round(torch.schedule.seconds_per_filter_estimate) : undefined,
      ascent_on_device: engine.startAscent !== undefined,
      // Host <-> device bytes of the whole batch per step, the scales' starts and ends spread over their steps (the
      // ascent placement lines say what crosses each step alone); none on the CPU.
      ...(movedBefore && movedAfter && stepsDone > 0
        ? {
            bytes_per_step_average: {
              to_device: Math.round((movedAfter.toDevice - movedBefore.toDevice) / stepsDone),
              to_host: Math.round((movedAfter.toHost - movedBefore.toHost) / stepsDone),
            },
          }
        : {}),
      // What one step of the ascent program moves, apart from its scale's start and end (absent on the CPU).
      ...ascentTransfersPerStep(placements),
    };
    log(`schedule batch: ${JSON.stringify(summary.schedule)}`);
    const config = await loadConfig(args.config);
    summary.projection = projectAtlas(model, config, layer40.node.name, params, secondsPerFilter).map((p) => ({ ...p, seconds: round(p.seconds), hours: round(p.hours, 3) }));
    if (!completed || args.quick) summary.projection_note = `projected from ${completed ? 'a shortened' : 'part of the'} schedule by the cost model (pipeline/visualize/cost.ts); the article's is ${scaleSizes(article).length} scales x ${article.stepsPerScale} steps`;
    summary.placements = placements.map((p) => formatPlacement(p));
    summary.on_device = onDevice(placements, engine.info.deviceKind);
  } catch (error) {
    errors.push(error instanceof Error ? error.message : String(error));
  } finally {
    await engine.dispose();
  }
  summary.status = errors.length === 0 ? 'ok' : summary.schedule ? 'partial' : 'failed';
  if (errors.length) summary.errors = errors;
  summary.elapsed_seconds = round((Date.now() - started) / 1000);
  process.stdout.write(JSON.stringify(summary) + '\n');
  if (summary.status === 'failed') process.exitCode = 1;
}

await main();
