/**
 * What a build will do and what it will cost, before it starts (`filter-atlas plan`, the first line
 * of `build`, the filters progress's ETA): filters per layer and method, GFLOP per stage (counted on
 * the model graph the way the engine counts the programs that run, model/flops.ts), and seconds on
 * this machine.
 *
 * Seconds come from what this machine measured (timings.ts), best first: the last build's achieved
 * GFLOP/s per stage on this engine and device (its wall seconds, so the stage's overheads are in),
 * or its seconds per item for stages without arithmetic (web images, examples); else the measured
 * peak (`npm run bench -- --peak`), which gives a lower bound: no stage reaches its peak. Nothing is
 * invented: without either, the plan says what to run to measure.
 */
import type { Config } from '../config/load.js';
import type { CnnModel } from '../model/graph.js';
import { graphAtSize } from '../model/sized.js';
import { forwardFlops, rowAttributionFlops } from '../model/flops.js';
import { formatDuration } from '../util/progress.js';
import { findLayer } from '../model/layers.js';
import type { LayerPlan } from './layer-plan.js';
import { layerPairs } from './stage-connections.js';
import { runKey, STAGE_NAMES, type Machine, type MachineTimings, type RunFigures, type StageName, type StoredStage } from './timings.js';

export type EstimateBasis = 'last run' | 'peak';

export interface StageEstimate {
  name: StageName;
  /** Units of work: pictures, photos, filters, probes. */
  items: number;
  gflop: number;
  /** Estimated wall seconds on this machine; absent when nothing measured here gives one. */
  seconds?: number;
  basis?: EstimateBasis;
  /** For basis 'last run': the atlas whose build measured the stage, and when. */
  from?: { atlas: string; at: string };
}

export interface BuildPlan {
  atlas: string;
  model: string;
  engine: string;
  /** The device asked for (`auto` included). */
  device: string;
  machine: Machine;
  layers: Array<{
    name: string;
    channels: number;
    filters: number;
    methods: Array<{ kind: string; batchSize: number; gflopPerFilter: number; gflop: number }>;
  }>;
  stages: StageEstimate[];
  gflop: number;
  /** Sum of the stages' estimates; a lower bound when `complete` is false (some stages unknown, or only the peak). */
  seconds?: number;
  complete: boolean;
  peakGflops?: number;
  /** The engine and device whose builds' figures the estimate uses, e.g. "ort cpu". */
  measuredOn?: string;
  /** With N shards on N machines like this one: the longest shard (filters split, the dataset unit on one shard). */
  shards?: { n: number; seconds: number };
  /** What a GPU would change: measured here, or where to read about it. */
  gpu: string;
}

export interface PlanInput {
  config: Config;
  model: CnnModel;
  layers: readonly LayerPlan[];
  /** Photos the dataset scan reads (after `limit`); absent without a dataset. */
  datasetImages?: number;
  machine: Machine;
  timings: MachineTimings;
  /** The resolved device kind when known (a build's engine); `auto` picks the latest run of the engine. */
  deviceKind?: string;
  /** Shards to show the makespan for. @default 4 */
  shards?: number;
}

/** Photos the dataset scan reads (after the config's `limit`): the source resolved and listed as the build does. */
export async function datasetSize(
  config: Config,
  deps: { resolveSource(source: string, signal?: AbortSignal): Promise<string>; listDataset(folder: string): Promise<{ images: readonly unknown[] }> },
  signal?: AbortSignal,
): Promise<number> {
  if (!config.dataset) return 0;
  const { images } = await deps.listDataset(await deps.resolveSource(config.dataset.source, signal));
  return Math.min(images.length, config.dataset.limit ?? Number.POSITIVE_INFINITY);
}

/** The builds of this engine (and device, when known; `auto`: the most recent device's) on this machine, by atlas. */
function runsOf(timings: MachineTimings, engine: string, device: string): { key: string; runs: Record<string, RunFigures> } | undefined {
  const candidates = Object.entries(timings.runs).filter(([key]) => (device === 'auto' ? key.startsWith(`${engine} `) : key === runKey(engine, device)));
  const latest = (runs: Record<string, RunFigures>) => Object.values(runs).reduce((at, run) => (run.at > at ? run.at : at), '');
  candidates.sort(([, a], [, b]) => latest(b).localeCompare(latest(a)));
  const [best] = candidates;
  return best ? { key: best[0], runs: best[1] } : undefined;
}

/**
 * A stage's figures to estimate from: this atlas's own last build, else the other atlases' longest
 * run of the stage (its overheads weigh least; a small test build must not stand for a large one).
 */
function measuredStage(runs: Record<string, RunFigures> | undefined, atlas: string, name: StageName): { stage: StoredStage; run: RunFigures } | undefined {
  if (!runs) return undefined;
  const own = runs[atlas]?.stages.find((s) => s.name === name);
  if (own) return { stage: own, run: runs[atlas] };
  const others = Object.values(runs).flatMap((run) => run.stages.filter((s) => s.name === name).map((stage) => ({ stage, run })));
  return others.sort((a, b) => b.stage.seconds - a.stage.seconds)[0];
}

function estimate(stage: Omit<StageEstimate, 'seconds' | 'basis'>, measured: { stage: StoredStage; run: RunFigures } | undefined, peak: number | undefined): StageEstimate {
  if (stage.items === 0) return { ...stage, seconds: 0 };
  const from = measured ? { atlas: measured.run.atlas, at: measured.run.at } : undefined;
  const m = measured?.stage;
  if (m && stage.gflop > 0 && m.plannedGflop && m.seconds > 0) return { ...stage, seconds: (stage.gflop * m.seconds) / m.plannedGflop, basis: 'last run', from };
  if (m && stage.gflop > 0 && m.gflop && m.seconds > 0) return { ...stage, seconds: stage.gflop / (m.gflop / m.seconds), basis: 'last run', from };
  if (m && m.items > 0) return { ...stage, seconds: (stage.items * m.seconds) / m.items, basis: 'last run', from };
  if (peak && stage.gflop > 0) return { ...stage, seconds: stage.gflop / peak, basis: 'peak' };
  return { ...stage };
}

export function planBuild(input: PlanInput): BuildPlan {
  const { config, model, layers } = input;
  const device = input.deviceKind ?? config.device;
  const inputSize = model.preprocessing.inputSize;
  const atInput = graphAtSize(model, inputSize);
  const layerRows = layers.map((layer) => ({
    name: layer.name,
    channels: layer.channels,
    filters: layer.filters.length,
    methods: layer.methods.map((m) => ({ kind: m.method.kind, batchSize: m.batchSize, gflopPerFilter: m.gflop, gflop: m.gflop * layer.filters.length })),
  }));
  const pictures = layers.reduce((sum, layer) => sum + layer.filters.length * layer.methods.length, 0);
  const filtersGflop = layerRows.reduce((sum, layer) => sum + layer.methods.reduce((s, m) => s + m.gflop, 0), 0);
  const mainPictures = layers.reduce((sum, layer) => sum + layer.filters.length, 0);
  const images = config.dataset ? (input.datasetImages ?? 0) : 0;
  const names = layers.map((l) => l.name);
  const stages: Array<Omit<StageEstimate, 'seconds' | 'basis'>> = [
    { name: 'filters', items: pictures, gflop: filtersGflop },
    // A computed batch's web images are made right after it, inside the filters stage's time; this
    // stage only catches up on reused pictures that lack them: nothing in a fresh build.
    { name: 'web images', items: 0, gflop: 0 },
  ];
  if (config.dataset) {
    const { topK, batchSize } = config.dataset;
    stages.push({ name: 'dataset scan', items: images, gflop: (images * forwardFlops(atInput, names)) / 1e9 });
    stages.push({ name: 'dataset examples', items: images > 0 ? mainPictures : 0, gflop: 0 });
    let filters = 0;
    let gflop = 0;
    for (const pair of layerPairs(model, layers)) {
      const later = layers.find((l) => l.name === pair.layer)!.filters.length;
      const pairRows = later * Math.min(topK, images);
      // Rows are grouped by photo (one forward pass each, shared by its rows); a batch boundary splits a photo's rows once more.
      const forwards = Math.min(pairRows, images) + Math.ceil(pairRows / batchSize);
      filters += images > 0 ? later : 0;
      gflop += rowAttributionFlops(atInput, pair.layer, pair.from, forwards, pairRows) / 1e9;
    }
    // Items are filters, as the build counts the records it writes; each runs topK rows.
    stages.push({ name: 'connections', items: filters, gflop });
  }
  // The browser probe model's check (one photo through every layer) and each probe's forward pass.
  const probeGflop = (forwardFlops(atInput, names) + config.probes.reduce((sum, p) => sum + forwardFlops(atInput, [findLayer(model, p.layer).node.name]), 0)) / 1e9;
  stages.push({ name: 'probes', items: config.probes.length + 1, gflop: probeGflop });
  stages.sort((a, b) => STAGE_NAMES.indexOf(a.name) - STAGE_NAMES.indexOf(b.name));

  const measured = runsOf(input.timings, config.engine, device);
  const peak = input.timings.peak?.gflops;
  const estimates = stages.map((stage) => estimate(stage, measuredStage(measured?.runs, config.atlas, stage.name), peak));
  const known = estimates.filter((s) => s.seconds !== undefined);
  // Stages with nothing to do take no time, but alone they measure nothing.
  const seconds = estimates.some((s) => s.basis) ? known.reduce((sum, s) => sum + s.seconds!, 0) : undefined;
  const complete = known.length === estimates.length && estimates.every((s) => s.basis !== 'peak');
  const n = input.shards ?? 4;
  const split = (name: StageName) => name === 'filters' || name === 'web images';
  const splitSeconds = known.filter((s) => split(s.name)).reduce((sum, s) => sum + s.seconds!, 0);
  const datasetSeconds = known.filter((s) => !split(s.name)).reduce((sum, s) => sum + s.seconds!, 0);
  const gpuRun = Object.entries(input.timings.runs).find(([key]) => key.startsWith(`${config.engine} `) && !key.endsWith(' cpu'));
  return {
    atlas: config.atlas,
    model: model.name,
    engine: config.engine,
    device,
    machine: input.machine,
    layers: layerRows,
    stages: estimates,
    gflop: estimates.reduce((sum, s) => sum + s.gflop, 0),
    ...(seconds !== undefined ? { seconds } : {}),
    complete,
    ...(peak ? { peakGflops: peak } : {}),
    ...(measured ? { measuredOn: measured.key } : {}),
    ...(seconds !== undefined ? { shards: { n, seconds: Math.max((splitSeconds + datasetSeconds) / n, datasetSeconds) } } : {}),
    gpu: gpuRun
      ? `with a GPU: builds on ${gpuRun[0]} were measured here; \`plan --device ${gpuRun[0].split(' ')[1]}\` estimates from them`
      : 'with a GPU (--device cuda|webgpu) the engine stages run there; no GPU build has been measured on this machine, so no estimate: see README, "GPU"',
  };
}

const gflopText = (gflop: number): string => (gflop >= 1000 ? `${(gflop / 1000).toFixed(1)} TFLOP` : `${gflop.toFixed(gflop >= 10 ? 0 : 1)} GFLOP`);

function secondsText(stage: StageEstimate): string {
  if (stage.seconds === undefined) return 'not measured here';
  if (stage.basis === 'peak') return `at least ${formatDuration(stage.seconds)} (at the peak)`;
  return `~${formatDuration(stage.seconds)}${stage.from ? ` (as ${stage.from.atlas}'s build ran it)` : ''}`;
}

/** Where the seconds come from: builds measured here, the peak, or both. */
function describeBasis(plan: BuildPlan): string {
  const atlases = [...new Set(plan.stages.flatMap((s) => (s.from ? [s.from.atlas] : [])))];
  const parts = [
    ...(atlases.length ? [`from the stages of ${atlases.join(', ')} built on ${plan.measuredOn}`] : []),
    ...(plan.stages.some((s) => s.basis === 'peak') ? [`at the measured peak of ${plan.peakGflops!.toFixed(0)} GFLOP/s`] : []),
  ];
  return parts.join('; ');
}

/** The one line `build` logs before it starts. */
export function planLine(plan: BuildPlan): string {
  const total = plan.seconds === undefined
    ? 'time not measured on this machine (npm run bench -- --peak, or a first build, measures it)'
    : `${plan.complete ? '~' : 'at least '}${formatDuration(plan.seconds)} here (${describeBasis(plan)})`;
  const pictures = plan.stages.find((s) => s.name === 'filters')!.items;
  const shards = plan.shards && plan.seconds !== undefined && plan.seconds > 600 ? `; --shard K/${plan.shards.n} on ${plan.shards.n} machines: ~${formatDuration(plan.shards.seconds)}; --device cuda|webgpu for a GPU` : '';
  return `plan: ${pictures} pictures, ${gflopText(plan.gflop)}, ${total}${shards}`;
}

/** `filter-atlas plan`'s text. */
export function formatPlan(plan: BuildPlan): string {
  const lines = [
    `${plan.atlas}: ${plan.model} on ${plan.engine} ${plan.device}, ${plan.machine.cpu}, ${plan.machine.threads} threads`,
    '',
    'filters per layer and method:',
    ...plan.layers.flatMap((layer) =>
      layer.methods.map((m) => `  ${layer.name} (${layer.channels} channels): ${layer.filters} filters, ${m.kind}, batches of ${m.batchSize}, ${m.gflopPerFilter.toFixed(1)} GFLOP each, ${gflopText(m.gflop)}`),
    ),
    '',
    'stages:',
    ...plan.stages.map((s) => `  ${s.name}: ${s.items} items, ${s.gflop > 0 ? gflopText(s.gflop) : 'no engine work'}, ${secondsText(s)}`),
    '',
  ];
  if (plan.seconds === undefined) {
    lines.push('total: not measured on this machine: `npm run bench -- --peak` measures the peak (seconds), a build measures each stage');
  } else {
    lines.push(`total: ${gflopText(plan.gflop)}, ${plan.complete ? '~' : 'at least '}${formatDuration(plan.seconds)} on this machine (${describeBasis(plan)})`);
    if (!plan.complete) lines.push('  (a lower bound: stages at the peak run slower, and unmeasured stages are left out; a build measures them)');
  }
  if (plan.shards) lines.push(`with --shard K/${plan.shards.n} on ${plan.shards.n} machines like this one: ~${formatDuration(plan.shards.seconds)} (the filters split; the dataset stages run on one shard)`);
  lines.push(plan.gpu);
  return lines.join('\n');
}
