/**
 * The shard side of `build --shard K/N`: the units of work of the whole build, which of them are this
 * shard's, and the manifest that lets `merge` assemble the atlas later without the model. A shard
 * writes records, files and its manifest, never atlas.json: shards may share one folder.
 */
import { createHash } from 'node:crypto';
import { dirname, isAbsolute, relative, sep } from 'node:path';
import type { Config } from '../config/load.js';
import type { Engine } from '../engine/engine.js';
import type { CnnModel } from '../model/graph.js';
import { builtinManifests, isAssetName } from '../assets/manifest.js';
import { listImageFiles } from '../dataset/list.js';
import { forwardCost } from '../visualize/cost.js';
import type { Method } from '../schema/method.js';
import type { AtlasFrame } from './assemble.js';
import { codeVersion } from './code-version.js';
import { canonicalJson } from './keys.js';
import { removeStaleManifests, writeManifest, type DatasetResult, type ManifestUnit, type ShardManifest } from './shard-manifest.js';
import { formatShard, type ShardSpec } from './shard-spec.js';
import { layerPairs } from './stage-connections.js';
import { filterKey } from './stage-visualize.js';
import type { AtlasStore } from './store.js';
import { assignShards, datasetCost, shardLoads, workUnits } from './work-units.js';

/** A layer as the build plans it (build.ts LayerPlan): its filters, and per method the batch size and one filter's cost. */
export interface ShardLayer {
  name: string;
  filters: number[];
  methods: ReadonlyArray<{ method: Method; batchSize: number; cost: number }>;
}

export interface ShardRun {
  spec: ShardSpec;
  /** True when batch `batch` (numbered from 0 within the layer and method) of `layer`'s method `method` is this shard's. */
  ownsBatch(layer: string, method: number, batch: number): boolean;
  /** True when this shard runs the dataset unit: the scan, its examples, labels and connections, the probe model and the probes. */
  ownsDataset: boolean;
  /** Filters of this shard, and one line saying what it does. */
  filters: number;
  summary: string;
  /** Writes the manifest again, finished, with what the dataset unit left when this shard ran it (ignored otherwise). */
  finish(result: DatasetResult): Promise<void>;
}

/**
 * The config as it decides the atlas, paths relative to the config file (so that machines with the
 * repository in other places agree), without what does not change any artifact (the output folder,
 * the batch concurrency) or what the engine device already holds (threads).
 */
export function portableConfig(config: Config): Record<string, unknown> {
  const dir = dirname(config.file);
  const portable = (path: string) => (isAbsolute(path) ? relative(dir, path).split(sep).join('/') : path);
  return JSON.parse(
    canonicalJson({
      atlas: config.atlas,
      title: config.title,
      model: portable(config.model),
      arch: config.arch ?? null,
      engine: config.engine,
      seed: config.seed,
      layers: config.layers,
      methods: config.methods,
      batch: { size: config.batch.size, memoryMiB: config.batch.memoryMiB },
      dataset: config.dataset ? { ...config.dataset, source: portable(config.dataset.source) } : null,
      probes: config.probes,
    }),
  ) as Record<string, unknown>;
}

/**
 * How many images the scan will read, from the config alone (every shard must plan the same split
 * without fetching the dataset): the limit, else the asset's listed images, else the folder's.
 */
async function estimateImages(source: string, limit: number | undefined): Promise<number> {
  const image = /\.(jpe?g|png|webp)$/i;
  let count: number;
  if (isAbsolute(source)) count = (await listImageFiles(source).catch(() => [])).length;
  else {
    const asset = source.split('/')[0];
    count = isAssetName(asset) ? (builtinManifests([asset]).get(asset)?.files.filter((f) => image.test(f.path)).length ?? 0) : 0;
  }
  return limit === undefined ? count : Math.min(count, limit);
}

/** Always a unit: without a dataset or probes it still emits the browser probe model (one forward pass). */
async function datasetUnitCost(config: Config, model: CnnModel, layers: readonly ShardLayer[]): Promise<number> {
  const [size] = model.preprocessing.inputSize;
  const forwardValues = Math.max(...layers.map((layer) => forwardCost(model, layer.name, size)));
  const byName = new Map(layers.map((layer) => [layer.name, layer]));
  return datasetCost({
    images: config.dataset ? await estimateImages(config.dataset.source, config.dataset.limit) : 0,
    forwardValues,
    examples: config.dataset ? layers.reduce((sum, layer) => sum + layer.filters.length, 0) * config.dataset.topK : 0,
    // The probe model's check is one more forward pass.
    probes: config.probes.length + 1,
    // As build runs them: only with a dataset (their images are each filter's top ones).
    connectionValues: config.dataset
      ? layerPairs(model, layers).reduce((sum, pair) => sum + byName.get(pair.layer)!.filters.length * config.dataset!.topK * forwardCost(model, pair.layer, size), 0)
      : 0,
  });
}

/**
 * Every batch of every method of every layer, cut as build cuts them (work-units.ts), with its
 * filters' record keys: the units of a shard's manifest, and what a build gathers its atlas from.
 */
export function keyedBatches(layers: readonly ShardLayer[], context: { model: CnnModel; engine: Engine; seed: number }): Array<Extract<ManifestUnit, { kind: 'batch' }>> {
  const byLayer = new Map(layers.map((layer) => [layer.name, layer]));
  return workUnits(
    layers.flatMap((layer) => layer.methods.map((m, method) => ({ name: layer.name, method, filters: layer.filters, batchSize: m.batchSize, filterCost: m.cost }))),
    undefined,
  ).flatMap((unit) => {
    if (unit.kind !== 'batch') return [];
    const filterContext = { ...context, layer: unit.layer, method: byLayer.get(unit.layer)!.methods[unit.method].method };
    return [{ ...unit, keys: unit.filters.map((filter) => filterKey(filterContext, filter, unit.filters)) }];
  });
}

export interface StartShardInput {
  spec: ShardSpec;
  config: Config;
  model: CnnModel;
  engine: Engine;
  store: AtlasStore;
  layers: readonly ShardLayer[];
  frame: AtlasFrame;
}

/** Plans the shard and writes its manifest (unfinished); stale manifests of other builds go. */
export async function startShard(input: StartShardInput): Promise<ShardRun> {
  const { spec, config, model, engine, store, layers } = input;
  // The dataset unit last, as work-units.ts places it.
  const units: ManifestUnit[] = [...keyedBatches(layers, { model, engine, seed: config.seed }), { kind: 'dataset', cost: await datasetUnitCost(config, model, layers) }];
  const assignment = assignShards(units, spec.count);
  const portable = portableConfig(config);
  const manifest: ShardManifest = {
    format: 1,
    atlas: config.atlas,
    shard: spec,
    codeVersion: await codeVersion(),
    weightsDigest: model.weightsDigest,
    device: engine.info.device,
    configDigest: createHash('sha256').update(canonicalJson(portable)).digest('hex'),
    config: portable,
    frame: input.frame,
    units,
    assignment,
    finished: false,
  };
  await removeStaleManifests(store.dir, manifest);
  await writeManifest(store, manifest);

  const mine = new Set(units.flatMap((unit, i) => (assignment[i] === spec.index && unit.kind === 'batch' ? [`${unit.layer}\0${unit.method}\0${unit.batch}`] : [])));
  const ownsDataset = units.some((unit, i) => unit.kind === 'dataset' && assignment[i] === spec.index);
  const loads = shardLoads(units, assignment, spec.count);
  const total = loads.reduce((a, b) => a + b, 0);
  const filters = units.reduce((sum, unit, i) => sum + (unit.kind === 'batch' && assignment[i] === spec.index ? unit.filters.length : 0), 0);
  const share = total > 0 ? Math.round((100 * loads[spec.index - 1]) / total) : 0;
  return {
    spec,
    ownsBatch: (layer, method, batch) => mine.has(`${layer}\0${method}\0${batch}`),
    ownsDataset,
    filters,
    summary: `shard ${formatShard(spec)}: ${mine.size} of ${units.filter((u) => u.kind === 'batch').length} batches (${filters} filters)${ownsDataset ? ', the dataset unit (scan, examples, labels, connections, probe model, probes)' : ''}, ${share} % of the estimated work`,
    finish: async (result) => {
      await writeManifest(store, { ...manifest, finished: true, ...(ownsDataset ? { datasetResult: result } : {}) });
    },
  };
}
