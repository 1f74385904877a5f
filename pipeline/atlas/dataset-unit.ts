/**
 * The build's dataset unit: the dataset scan with its examples and labels, the connected filters,
 * the browser probe's model and the probes. It is one unit of work (one shard runs all of it), since
 * every later part reads the scan. build.ts runs it after the visualisations; what it leaves for
 * atlas.json and a shard's manifest goes into `result`.
 */
import type { Config } from '../config/load.js';
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { ModelInputCache } from '../image/input-cache.js';
import type { AtlasStore } from './store.js';
import type { Dataset } from '../dataset/list.js';
import type { Progress } from '../util/progress.js';
import type { LayerPlan } from './layer-plan.js';
import type { StageClock } from './stage-figures.js';
import type { StageFigures } from './timings.js';
import type { DatasetResult } from './shard-manifest.js';
import { datasetEntry } from './assembly-inputs.js';
import { runDatasetStage } from './stage-dataset.js';
import { layerPairs, runConnections } from './stage-connections.js';
import { runProbeModel } from './stage-probe-model.js';
import { runProbe, type ProbePlan } from './stage-probes.js';

/** What the unit needs of build's outside world (build.ts BuildDeps provides it). */
export interface DatasetUnitDeps {
  resolveSource(source: string, signal?: AbortSignal): Promise<string>;
  listDataset(folder: string): Promise<Dataset>;
  progress(label: string, total: number): Progress;
  log(message: string): void;
}

export interface DatasetUnitInput {
  config: Config;
  deps: DatasetUnitDeps;
  model: CnnModel;
  engine: Engine;
  store: AtlasStore;
  plans: readonly LayerPlan[];
  clock: StageClock;
  /** Filled in: the dataset entry, connections, probe model and probes that atlas.json names. */
  result: DatasetResult;
  signal?: AbortSignal;
}

export interface DatasetUnitOutput {
  /** Something was computed, not only reused (atlas.json gets a new createdAt). */
  changed: boolean;
  datasetScanned: boolean;
  probesComputed: number;
}

export async function runDatasetUnit(input: DatasetUnitInput): Promise<DatasetUnitOutput> {
  const { config, deps, model, engine, store, plans, clock, result, signal } = input;
  let changed = false;
  let datasetScanned = false;
  // The scan's decodes serve the connected filters and the probe model's check too.
  const photos = new ModelInputCache();
  // The first scanned photo checks the browser probe's model (grey when there is no dataset).
  let firstPhoto: string | undefined;

  if (config.dataset) {
    const scanStage = clock.start('dataset scan');
    let scanFigures: StageFigures | undefined;
    let examplesStage: ReturnType<typeof clock.start> | undefined;
    let examplesComputed = 0;
    const folder = await deps.resolveSource(config.dataset.source, signal);
    let source = await deps.listDataset(folder);
    if (config.dataset.limit !== undefined && config.dataset.limit < source.images.length) {
      // The digest names the subset, so a different limit is a different scan.
      source = { ...source, images: source.images.slice(0, config.dataset.limit), digest: `${source.digest}:first-${config.dataset.limit}` };
    }
    const stage = await runDatasetStage({
      model,
      engine,
      store,
      dataset: source,
      layers: new Map(plans.map((p) => [p.name, p.filters])),
      topK: config.dataset.topK,
      batchSize: config.dataset.batchSize,
      signal,
      loadImage: photos.load,
      // The scan ends where the examples' progress starts: one stage each in the figures.
      progress: (label, total) => {
        const bar = deps.progress(label, total);
        if (label !== 'dataset examples') return bar;
        scanFigures ??= scanStage.stop(0);
        examplesStage ??= clock.start('dataset examples');
        return { ...bar, tick: (n = 1, work?: number) => ((examplesComputed += n), bar.tick(n, work)) };
      },
    });
    scanFigures ??= scanStage.stop(0);
    scanFigures.items = stage.scanned ? source.images.length : 0;
    examplesStage?.stop(examplesComputed);
    if (stage.scanned) changed = true;
    datasetScanned = stage.scanned;
    const byFile = new Map(source.images.map((image) => [image.file, image]));
    const scanned = stage.scan.images.map((file) => byFile.get(file)!);
    firstPhoto = scanned[0]?.path;
    result.dataset = datasetEntry(config.dataset.source, source, stage.scan.key);
    const pairs = layerPairs(model, plans);
    if (pairs.length > 0) {
      const connectionsStage = clock.start('connections');
      const stageOutput = await runConnections({
        model,
        engine,
        store,
        scan: stage.scan,
        scanKey: stage.scan.key,
        images: scanned,
        pairs,
        filters: new Map(plans.map((p) => [p.name, p.filters])),
        batchSize: config.dataset.batchSize,
        signal,
        progress: deps.progress,
        loadImage: photos.load,
      });
      connectionsStage.stop(stageOutput.computed);
      if (stageOutput.computed > 0) changed = true;
      result.connections = { pairs, images: `each filter's top ${config.dataset.topK} dataset images`, keys: stageOutput.keys };
    }
    const skipped = [...(source.skipped ?? []), ...stage.scan.skipped];
    if (skipped.length > 0) deps.log(`dataset: skipped ${skipped.length} unreadable file(s): ${skipped.map((s) => s.file).join(', ')}`);
  }

  const probesStage = clock.start('probes');
  const [height, width] = model.preprocessing.inputSize;
  const sample = firstPhoto ? (await photos.load(firstPhoto, model.preprocessing)).data : new Float32Array(3 * height * width).fill(0.5);
  const emitted = await runProbeModel({ model, engine, store, layers: plans.map((p) => p.name), sample: { data: sample, n: 1, height, width } });
  result.probeModelKey = emitted.key;
  if (emitted.computed) changed = true;

  let probesComputed = 0;
  for (const entry of config.probes) {
    const plan: ProbePlan = { ...entry, path: await deps.resolveSource(entry.image, signal), source: entry.image };
    const outcome = await runProbe(model, engine, store, plan);
    if ('skipped' in outcome) {
      deps.log(`probe ${entry.image} at ${entry.layer}: skipped, ${outcome.skipped}`);
      result.skippedProbes.push({ source: entry.image, layer: entry.layer, reason: outcome.skipped });
      continue;
    }
    result.probes.push({ key: outcome.key, id: outcome.probe.id, source: outcome.probe.source });
    if (outcome.computed) {
      probesComputed++;
      changed = true;
    }
  }
  probesStage.stop(probesComputed + (emitted.computed ? 1 : 0));
  return { changed, datasetScanned, probesComputed };
}
