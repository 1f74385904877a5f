/**
 * `filter-atlas build`: config -> model -> engine -> visualise every selected filter -> dataset
 * scan + examples -> probes -> atlas.json. Each stage reuses keyed records, atlas.json is rewritten
 * atomically every few seconds while pictures are computed (valid at any moment, `complete: false`
 * until the end).
 */
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_OUTPUT, type Config } from '../config/load.js';
import { resolveFilters } from '../config/filters.js';
import { meterEngine, type Engine, type EngineOptions } from '../engine/engine.js';
import { FilterAtlasError, userError } from '../errors.js';
import type { CnnModel } from '../model/graph.js';
import { findLayer, receptiveField } from '../model/layers.js';
import type { Dataset } from '../dataset/list.js';
import type { Progress } from '../util/progress.js';
import { bytesPerImage, chunk } from '../visualize/sweep.js';
import { planBatchSize } from '../visualize/batch-plan.js';
import { filterCost, filterFlops } from '../visualize/cost.js';
import { methodSummary, type Method } from '../schema/method.js';
import { ATLAS_SCHEMA_VERSION, type Atlas } from '../schema/atlas.js';
import { AtlasStore } from './store.js';
import { visualizeLayer, type VisualRecord } from './stage-visualize.js';
import { scanBytesPerImage } from '../dataset/scan.js';
import { checkBatchMemory, checkScanMemory } from './memory.js';
import { runWebImages } from './stage-web-images.js';
import { assembleAtlas, type AtlasFrame } from './assemble.js';
import { gatherAssembly, storeReader, type AtlasIndex } from './assembly-inputs.js';
import type { DatasetResult } from './shard-manifest.js';
import { keyedBatches, startShard, type ShardRun } from './shard-build.js';
import { formatShard, type ShardSpec } from './shard-spec.js';
import { countPictures, type AtlasCounts } from './counts.js';
import { runDatasetUnit } from './dataset-unit.js';
import { judgeLayers } from './dead-in-layer.js';
import type { LayerPlan, MethodPlan } from './layer-plan.js';
import { datasetSize, planBuild, planLine } from './plan.js';
import { stageClock } from './stage-figures.js';
import { runKey, thisMachine, type MachineTimings, type StageFigures, type StoredStage } from './timings.js';

export type { LayerPlan, MethodPlan };
import { describeKept, keepModel } from './model-store.js';

/** What build needs from the outside world; the CLI wires the real ones, tests may pass others. */
export interface BuildDeps {
  loadModel(spec: string, options: { arch?: 'vgg16_bn' | 'vgg16'; signal?: AbortSignal }): Promise<CnnModel>;
  createEngine(model: CnnModel, options: EngineOptions): Promise<Engine>;
  /** A dataset or probe source: an asset name (or <asset>/<file>) -> a local path. */
  resolveSource(source: string, signal?: AbortSignal): Promise<string>;
  listDataset(folder: string): Promise<Dataset>;
  /**
   * `work`: the items' total cost when they cost unequal amounts (see ProgressOptions.work);
   * `expectedSeconds`: the plan's estimate, the ETA until the first items are done.
   */
  progress(label: string, total: number, options?: { work?: number; expectedSeconds?: number }): Progress;
  log(message: string): void;
  now(): Date;
  /** assembly-inputs.ts gatherAssembly; tests may pass one that records what it gathers. */
  gather?: typeof gatherAssembly;
  /** How often, at most, atlas.json is rewritten while pictures are computed, in ms (it is always written at the end). @default 5000 */
  atlasRefreshMs?: number;
  /**
   * This machine's measured figures (atlas/timings.ts, in the asset cache): read for the estimate at
   * the start, written with the stages' figures at the end. Unset: no estimate, nothing written.
   */
  timings?: {
    read(threads?: number): Promise<MachineTimings>;
    write(threads: number | undefined, key: string, run: { atlas: string; at: string; stages: readonly StoredStage[] }): Promise<void>;
  };
}

export interface BuildOptions {
  /** Build only this shard's units of work (shard-build.ts); `filter-atlas merge` assembles the atlas. */
  shard?: ShardSpec;
}

export interface BuildSummary {
  atlasDir: string;
  /** "K/N" for a shard, which writes records, files and its manifest but no atlas.json. */
  shard?: string;
  /**
   * Pictures computed and reused (a layer of two methods counts each filter twice; the names are
   * older than methods and kept for the scripts that read them). `counts` says how many filters.
   */
  filtersComputed: number;
  filtersReused: number;
  /** Filters by status and pictures by method (counts.ts), of the atlas written or, for a shard, of its own batches. */
  counts: AtlasCounts;
  datasetScanned: boolean;
  probesComputed: number;
  seconds: number;
  /** Per stage: wall seconds, engine seconds, GFLOP (absent for tfjs, which cannot count) and the units computed. */
  stages: StageFigures[];
  /** This machine's measured peak (`npm run bench -- --peak`), when there is one. */
  peakGflops?: number;
}

/** A lucid diversity layer as the engine names it (a config may give an alias or an index). */
function resolveMethodLayers(method: Method, model: CnnModel): Method {
  if (method.kind !== 'lucid' || !method.params.diversity) return method;
  const { node } = findLayer(model, method.params.diversity.layer);
  return { kind: 'lucid', params: { ...method.params, diversity: { ...method.params.diversity, layer: node.name } } };
}

/** Runs a check against the model and puts the config line in front of its error: "file:line: field: ...". */
function at<T>(config: Config, path: readonly PropertyKey[], check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (!(error instanceof FilterAtlasError)) throw error;
    throw new FilterAtlasError(`${config.locate(path)}: ${error.message}`, { cause: error });
  }
}

export function planLayers(config: Config, model: CnnModel): LayerPlan[] {
  const seen = new Set<string>();
  return config.layers.map((entry, i) => {
    const { node, channels } = at(config, ['layers', i, 'layer'], () => findLayer(model, entry.layer));
    if (seen.has(node.name)) {
      throw userError({ where: config.locate(['layers', i]), expected: 'each layer once', received: `${entry.layer} again`, fix: 'Merge the two entries.' });
    }
    seen.add(node.name);
    const methods = entry.methods.map((written, m): MethodPlan => {
      const method = at(config, ['layers', i, 'method'], () => resolveMethodLayers(written, model));
      const batchSize = planBatchSize(model, node.name, method, config.batch);
      checkBatchMemory({
        where: `${config.locate(['layers', i])} (${node.name}${entry.methods.length > 1 ? `, method ${m + 1}: ${method.kind}` : ''})`,
        bytesPerImage: bytesPerImage(model, node.name, method),
        batchSize,
        concurrency: config.batch.concurrency,
        auto: config.batch.size === 'auto',
      });
      return { method, batchSize, cost: filterCost(model, node.name, method), gflop: filterFlops(model, node.name, method) / 1e9 };
    });
    return {
      name: node.name,
      aliases: node.aliases ?? [],
      index: model.graph.nodes.indexOf(node),
      kind: node.op.kind,
      channels,
      filters: resolveFilters(entry.filters, channels, `${config.locate(['layers', i, 'filters'])} (layer ${node.name})`),
      methods,
    };
  });
}

/** Everything of atlas.json that the config, model and engine fix before any work (assemble.ts). */
function atlasFrame(config: Config, model: CnnModel, engine: Engine, plans: LayerPlan[]): AtlasFrame {
  return {
    schemaVersion: ATLAS_SCHEMA_VERSION,
    id: config.atlas,
    title: config.title,
    model: {
      name: model.name,
      spec: config.model,
      version: model.version,
      format: model.source.format,
      ...(model.source.architecture ? { architecture: model.source.architecture } : {}),
      weightsDigest: model.weightsDigest,
      inputSize: model.preprocessing.inputSize,
    },
    engine: { name: engine.info.name, device: engine.info.device, deviceKind: engine.info.deviceKind },
    method: methodSummary(config.methods[0]),
    layers: plans.map((plan) => ({
      name: plan.name,
      ...(plan.aliases.length > 0 ? { aliases: plan.aliases } : {}),
      method: methodSummary(plan.methods[0].method),
      ...(plan.methods.length > 1 ? { otherMethods: plan.methods.slice(1).map((m) => methodSummary(m.method)) } : {}),
      index: plan.index,
      kind: plan.kind,
      channels: plan.channels,
      // A unit that sees the whole image (class logits after global pooling) has no field to show.
      ...(receptiveField(model.graph, plan.name).global ? {} : { receptiveField: receptiveField(model.graph, plan.name).size }),
    })),
  };
}

export async function runBuild(config: Config, deps: BuildDeps, signal?: AbortSignal, options: BuildOptions = {}): Promise<BuildSummary> {
  const started = performance.now();
  const model = await deps.loadModel(config.model, { arch: config.arch, signal });
  const plans = planLayers(config, model);
  if (config.dataset) {
    checkScanMemory({ where: config.locate(['dataset', 'batchSize']), bytesPerImage: scanBytesPerImage(model, plans.map((p) => p.name)), batchSize: config.dataset.batchSize });
  }
  config.probes.forEach((probe, i) => at(config, ['probes', i, 'layer'], () => findLayer(model, probe.layer)));
  const store = new AtlasStore(join(config.output ?? resolve(DEFAULT_OUTPUT), config.atlas));
  // Temporary files of a killed run; a live run's own are left alone (two builds may share the folder).
  await store.removeLitter();
  // The weights beside the atlases (model-store.ts), so a diff survives the model file being overwritten.
  const kept = describeKept(await keepModel(model, config.model, dirname(store.dir), signal));
  if (kept) deps.log(kept);
  const previous = options.shard ? undefined : await store.readAtlas();
  // Timed at the engine interface: every stage's engine seconds and FLOPs (stage-figures.ts).
  const metered = meterEngine(await deps.createEngine(model, { engine: config.engine, threads: config.threads, device: config.device }));
  const engine = metered.engine;
  const clock = stageClock(metered.usage);
  if (engine.info.selection) deps.log(engine.info.selection);
  deps.log(`${model.name} on ${engine.info.device}; atlas ${store.dir}`);
  const timings = await deps.timings?.read(config.threads);
  const frame = atlasFrame(config, model, engine, plans);
  let shard: ShardRun | undefined;
  if (options.shard) {
    shard = await startShard({ spec: options.shard, config, model, engine, store, layers: plans, frame });
    deps.log(shard.summary);
  }
  const runsDataset = !shard || shard.ownsDataset;
  // What the build will cost, before it starts (plan.ts): also the filters progress's first ETA. A
  // shard's share is the shard plan's (its summary above), not the whole build's.
  const estimate = timings && !shard
    ? planBuild({
        config,
        model,
        layers: plans,
        ...(config.dataset ? { datasetImages: await datasetSize(config, deps, signal) } : {}),
        machine: thisMachine(config.threads),
        timings,
        deviceKind: engine.info.deviceKind,
      })
    : undefined;
  if (estimate) deps.log(planLine(estimate));

  // Per layer, per method (the main picture first), each filter's record, for the counts; the main
  // pictures' web images are made after each batch and at the end.
  const pictures = new Map<string, Array<Map<number, VisualRecord>>>(plans.map((p) => [p.name, p.methods.map(() => new Map())]));
  const mainPictures = (layer: string): Map<number, VisualRecord> => pictures.get(layer)![0];
  const withWeb = new Set<string>();
  // What the dataset unit leaves: what atlas.json and a shard's manifest name of it.
  const result: DatasetResult = { probes: [], skippedProbes: [] };
  // Which records make the atlas, as a shard's manifest names them: atlas.json is gathered from them
  // as merge gathers it (assembly-inputs.ts); the dataset unit's once it has run.
  const index: AtlasIndex = { units: keyedBatches(plans, { model, engine, seed: config.seed }) };
  const reader = storeReader(store);
  let changed = false;

  const assemble = async (complete: boolean): Promise<Atlas> =>
    assembleAtlas(frame, {
      createdAt: !changed && previous ? previous.createdAt : deps.now().toISOString(),
      complete,
      ...(await (deps.gather ?? gatherAssembly)(frame.layers, index, reader)).content,
    });

  let atlasWritten = -Infinity;
  let webComputed = 0;
  // A main picture's web images are written with its batch (stage-visualize.ts); these are made from
  // the PNGs of pictures reused without them (a layer's other method that became its main one).
  const addWebImages = async (records: readonly VisualRecord[], progress?: Progress) => {
    const made = await runWebImages({ store, records, ...(progress ? { progress } : {}), signal });
    for (const key of made.images.keys()) withWeb.add(key);
    webComputed += made.computed;
    if (made.computed > 0) changed = true;
  };

  let filtersComputed = 0;
  let filtersReused = 0;
  try {
    // A shard counts its own filters only.
    const mine = (plan: LayerPlan, m: number) =>
      shard ? chunk(plan.filters, plan.methods[m].batchSize).filter((_, b) => shard.ownsBatch(plan.name, m, b)).flat().length : plan.filters.length;
    const total = plans.reduce((sum, p) => sum + p.methods.reduce((n, _, m) => n + mine(p, m), 0), 0);
    // Weighted by each layer's cost: a late layer at full size takes many times an early one.
    const work = plans.reduce((sum, p) => sum + p.methods.reduce((w, method, m) => w + mine(p, m) * method.gflop, 0), 0);
    // Work in GFLOP, the plan's model; the plan's seconds for the whole stage are the ETA until a batch is done.
    const filtersSeconds = estimate?.stages.find((s) => s.name === 'filters')?.seconds;
    const progress = deps.progress('filters', total, { work, ...(filtersSeconds !== undefined ? { expectedSeconds: filtersSeconds } : {}) });
    const filtersStage = clock.start('filters');
    for (const plan of plans) {
      for (const [m, { method, batchSize, gflop }] of plan.methods.entries()) {
        const result = await visualizeLayer({
          model,
          engine,
          store,
          layer: plan.name,
          channels: plan.channels,
          filters: plan.filters,
          method,
          seed: config.seed,
          batchSize,
          ...(shard ? { includeBatch: (batch: number) => shard.ownsBatch(plan.name, m, batch) } : {}),
          filterCost: gflop,
          concurrency: config.batch.concurrency,
          signal,
          progress,
          // The main pictures get their web images with their batch; atlas.json is gathered from the records written.
          webImages: m === 0,
          onRecord: (record, web) => {
            pictures.get(plan.name)![m].set(record.filter, record);
            if (web) withWeb.add(record.key);
          },
          onBatchWritten: async () => {
            changed = true;
            // Shards may share a folder: atlas.json is merge's to write. Gathering it reads every
            // record, so it is rewritten at most every few seconds, and always at the end.
            if (!shard && performance.now() - atlasWritten >= (deps.atlasRefreshMs ?? 5000)) {
              await store.writeAtlas(await assemble(false));
              atlasWritten = performance.now();
            }
          },
        });
        filtersComputed += result.computed;
        filtersReused += result.reused;
      }
    }
    progress.stop();
    filtersStage.stop(filtersComputed);

    // Web versions of the main pictures of reused batches too (of this shard's batches); a layer's
    // other methods are shown from their PNGs.
    const visualRecords = plans.flatMap((p) => [...mainPictures(p.name).values()]).filter((r) => !withWeb.has(r.key));
    const webStage = clock.start('web images');
    const webBefore = webComputed;
    await addWebImages(visualRecords, deps.progress('web images', visualRecords.length));
    webStage.stop(webComputed - webBefore);

    // The dataset scan with its examples, labels and connections, the browser probe model and the
    // probes are one unit of work: one shard runs them all (dataset-unit.ts).
    let datasetScanned = false;
    let probesComputed = 0;
    if (runsDataset) {
      const unit = await runDatasetUnit({ config, deps, model, engine, store, plans, clock, result, signal });
      if (unit.changed) changed = true;
      datasetScanned = unit.datasetScanned;
      probesComputed = unit.probesComputed;
    }

    if (shard) {
      await shard.finish(result);
    } else {
      index.dataset = result;
      await store.writeAtlas(await assemble(true));
    }
    // For the next estimate on this machine (plan.ts): a stage that only reused records says nothing of its speed.
    const measured = clock.stages.flatMap((stage): StoredStage[] => {
      if (stage.items === 0) return [];
      const planned = estimate?.stages.find((s) => s.name === stage.name);
      return [planned && planned.items === stage.items ? { ...stage, plannedGflop: planned.gflop } : stage];
    });
    if (deps.timings && measured.length > 0) {
      const key = runKey(engine.info.name, engine.info.deviceKind);
      await deps.timings.write(config.threads, key, { atlas: config.atlas, at: deps.now().toISOString(), stages: measured }).catch((error: Error) => deps.log(`timings not saved: ${error.message}`));
    }
    return {
      atlasDir: store.dir,
      ...(shard ? { shard: formatShard(shard.spec) } : {}),
      filtersComputed,
      filtersReused,
      counts: countPictures(frame.layers, judgeLayers(pictures)),
      datasetScanned,
      probesComputed,
      seconds: (performance.now() - started) / 1000,
      stages: clock.stages,
      ...(timings?.peak ? { peakGflops: timings.peak.gflops } : {}),
    };
  } finally {
    await engine.dispose();
  }
}
