/**
 * `filter-atlas build`: config -> model -> engine -> visualise every selected filter -> dataset
 * scan + examples -> probes -> atlas.json. Each stage reuses keyed records, atlas.json is rewritten
 * atomically after every batch (valid at any moment, `complete: false` until the end).
 */
import { join, resolve } from 'node:path';
import { DEFAULT_OUTPUT, type Config } from '../config/load.js';
import { resolveFilters } from '../config/filters.js';
import type { Engine, EngineOptions } from '../engine/engine.js';
import { FilterAtlasError, userError } from '../errors.js';
import type { CnnModel } from '../model/graph.js';
import { findLayer, receptiveField } from '../model/layers.js';
import type { Dataset } from '../dataset/list.js';
import { superstimulusRatio } from '../dataset/quality.js';
import type { Progress } from '../util/progress.js';
import { bytesPerImage } from '../visualize/sweep.js';
import { planBatchSize } from '../visualize/batch-plan.js';
import { filterCost } from '../visualize/cost.js';
import { methodSummary, type Method } from '../visualize/method.js';
import { ATLAS_SCHEMA_VERSION, type Atlas, type AtlasFilter, type AtlasFilterView, type AtlasLayer, type AtlasProbe } from './schema.js';
import { AtlasStore } from './store.js';
import { visualizeLayer, type VisualRecord } from './stage-visualize.js';
import { runDatasetStage, type DatasetStageOutput } from './stage-dataset.js';
import { runProbe, type ProbePlan } from './stage-probes.js';
import { checkBatchMemory } from './memory.js';
import { runWebImages } from './stage-web-images.js';
import { layerPairs, runConnections, strongest, type ConnectionsStageOutput } from './stage-connections.js';
import { runProbeModel } from './stage-probe-model.js';
import { datasetLabeller, type Labeller } from '../labels/for-dataset.js';
import { loadImageForModel } from '../image/load.js';
import type { WebRecord } from './records.js';
import type { ProbeModel } from './schema.js';

/** What build needs from the outside world; the CLI wires the real ones, tests may pass others. */
export interface BuildDeps {
  loadModel(spec: string, options: { arch?: 'vgg16_bn' | 'vgg16'; signal?: AbortSignal }): Promise<CnnModel>;
  createEngine(model: CnnModel, options: EngineOptions): Promise<Engine>;
  /** A dataset or probe source: an asset name (or <asset>/<file>) -> a local path. */
  resolveSource(source: string, signal?: AbortSignal): Promise<string>;
  listDataset(folder: string): Promise<Dataset>;
  /** `work`: the items' total cost when they cost unequal amounts (see ProgressOptions.work). */
  progress(label: string, total: number, options?: { work?: number }): Progress;
  log(message: string): void;
  now(): Date;
}

export interface BuildSummary {
  atlasDir: string;
  filtersComputed: number;
  filtersReused: number;
  datasetScanned: boolean;
  probesComputed: number;
  seconds: number;
}

/** One method of a layer: its batch size and the cost of one filter's schedule. */
interface MethodPlan {
  method: Method;
  batchSize: number;
  /** Cost of one filter's schedule (activation values, visualize/cost.ts), for the ETA. */
  cost: number;
}

interface LayerPlan {
  name: string;
  index: number;
  kind: string;
  channels: number;
  filters: number[];
  /** The first is the layer's main picture; the others are shown beside it (filters[].others). */
  methods: MethodPlan[];
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

function planLayers(config: Config, model: CnnModel): LayerPlan[] {
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
      return { method, batchSize, cost: filterCost(model, node.name, method) };
    });
    return {
      name: node.name,
      index: model.graph.nodes.indexOf(node),
      kind: node.op.kind,
      channels,
      filters: resolveFilters(entry.filters, channels, `${config.locate(['layers', i, 'filters'])} (layer ${node.name})`),
      methods,
    };
  });
}

/** Connected filters shown per filter page, each way (strongest positive and most negative). */
const CONNECTIONS_SHOWN = 8;

/** What the later stages add to a filter (web images, dominant label, connected filters). */
interface Extras {
  web: Map<string, WebRecord>;
  labeller?: Labeller;
  connections?: ConnectionsStageOutput & { pairs: { layer: string; from: string }[]; images: string };
  /** Layer -> its visualised filters (connections are listed among those only: they have pages). */
  visualised: Map<string, Set<number>>;
}

function connectionsOf(extras: Extras, layer: string, filter: number): Pick<AtlasFilter, 'inputs' | 'feeds'> {
  const out: Pick<AtlasFilter, 'inputs' | 'feeds'> = {};
  const c = extras.connections;
  if (!c) return out;
  const into = c.pairs.find((p) => p.layer === layer);
  const record = into && c.records.get(layer)?.get(filter);
  if (into && record) out.inputs = { layer: into.from, images: `${record.images.length} top images`, ...strongest(record.values, extras.visualised.get(into.from), CONNECTIONS_SHOWN) };
  const onward = c.pairs.find((p) => p.from === layer);
  const later = onward && c.records.get(onward.layer);
  if (onward && later && later.size > 0) {
    const values: number[] = [];
    for (const [j, r] of later) values[j] = r.values[filter];
    out.feeds = { layer: onward.layer, ...strongest(Array.from(values, (v) => v ?? Number.NaN), undefined, CONNECTIONS_SHOWN) };
  }
  return out;
}

/** The superstimulus ratio of a picture's activation against the filter's best dataset photo (both spatial means). */
function superstimulusOf(record: VisualRecord, layer: string, dataset: DatasetStageOutput | undefined): number | undefined {
  const scanLayer = dataset?.scan.layers.find((l) => l.layer === layer);
  if (!scanLayer?.stats[record.filter]) return undefined;
  const bestMean = scanLayer.top[record.filter]?.[0]?.mean;
  return record.status === 'failed' || bestMean === undefined ? undefined : superstimulusRatio(record.activation, bestMean);
}

function assembleFilter(record: VisualRecord, layer: string, dataset: DatasetStageOutput | undefined, extras: Extras, others: Array<{ kind: Method['kind']; record: VisualRecord | undefined }>): AtlasFilter {
  const { startActivation: _start, ...filter } = record;
  const scanLayer = dataset?.scan.layers.find((l) => l.layer === layer);
  const stats = scanLayer?.stats[record.filter] ?? undefined;
  const examples = dataset?.examples.get(layer)?.get(record.filter);
  const entry: AtlasFilter = { ...filter };
  if (stats) {
    entry.stats = stats;
    // Like with like: the visualisation's spatial mean against the best dataset image's spatial mean.
    const ratio = superstimulusOf(record, layer, dataset);
    if (ratio !== undefined) entry.superstimulus = ratio;
  }
  if (examples) {
    entry.top = examples.top;
    entry.labels = examples.labels;
    const dominant = extras.labeller?.(examples.top.map((t) => t.file));
    if (dominant !== undefined) entry.dominant = dominant;
  }
  const web = extras.web.get(record.key);
  if (web) entry.web = web;
  const views = others.flatMap(({ kind, record: other }): AtlasFilterView[] => {
    if (!other) return [];
    const { startActivation: _s, filter: _f, ...fields } = other;
    const ratio = superstimulusOf(other, layer, dataset);
    return [{ kind, ...fields, ...(ratio !== undefined ? { superstimulus: ratio } : {}) }];
  });
  if (views.length > 0) entry.others = views;
  return { ...entry, ...connectionsOf(extras, layer, record.filter) };
}

export async function runBuild(config: Config, deps: BuildDeps, signal?: AbortSignal): Promise<BuildSummary> {
  const started = performance.now();
  const model = await deps.loadModel(config.model, { arch: config.arch, signal });
  const plans = planLayers(config, model);
  config.probes.forEach((probe, i) => at(config, ['probes', i, 'layer'], () => findLayer(model, probe.layer)));
  const store = new AtlasStore(join(config.output ?? resolve(DEFAULT_OUTPUT), config.atlas));
  // Temporary files of a killed run; a live run's own are left alone (two builds may share the folder).
  await store.removeLitter();
  const previous = await store.readAtlas();
  const engine = await deps.createEngine(model, { engine: config.engine, threads: config.threads, device: config.device });
  if (engine.info.selection) deps.log(engine.info.selection);
  deps.log(`${model.name} on ${engine.info.device}; atlas ${store.dir}`);

  // Per layer, per method of the layer (in plan order): each filter's record.
  const records = new Map<string, Array<Map<number, VisualRecord>>>(plans.map((p) => [p.name, p.methods.map(() => new Map())]));
  let dataset: { source: Dataset; stage: DatasetStageOutput } | undefined;
  const probes: AtlasProbe[] = [];
  let changed = false;
  const extras: Extras = { web: new Map(), visualised: new Map(plans.map((p) => [p.name, new Set(p.filters)])) };
  let probeModel: ProbeModel | undefined;

  const assemble = (complete: boolean): Atlas => ({
    schemaVersion: ATLAS_SCHEMA_VERSION,
    id: config.atlas,
    title: config.title,
    createdAt: !changed && previous ? previous.createdAt : deps.now().toISOString(),
    complete,
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
    ...(dataset
      ? {
          dataset: {
            name: config.dataset!.source,
            digest: dataset.source.digest,
            images: dataset.stage.scan.images,
            skipped: [...(dataset.source.skipped ?? []), ...dataset.stage.scan.skipped],
            scanSeconds: dataset.stage.scan.seconds,
          },
        }
      : {}),
    layers: plans.map((plan): AtlasLayer => {
      const scanLayer = dataset?.stage.scan.layers.find((l) => l.layer === plan.name);
      return {
        name: plan.name,
        method: methodSummary(plan.methods[0].method),
        ...(plan.methods.length > 1 ? { otherMethods: plan.methods.slice(1).map((m) => methodSummary(m.method)) } : {}),
        index: plan.index,
        kind: plan.kind,
        channels: plan.channels,
        // A unit that sees the whole image (class logits after global pooling) has no field to show.
        ...(receptiveField(model.graph, plan.name).global ? {} : { receptiveField: receptiveField(model.graph, plan.name).size }),
        filters: [...records.get(plan.name)![0].values()]
          .sort((a, b) => a.filter - b.filter)
          .map((r) => {
            const others = plan.methods.slice(1).map((m, k) => ({ kind: m.method.kind, record: records.get(plan.name)![k + 1].get(r.filter) }));
            return assembleFilter(r, plan.name, dataset?.stage, extras, others);
          }),
        ...(scanLayer ? { datasetMeans: scanLayer.means } : {}),
      };
    }),
    probes,
    ...(probeModel ? { probeModel } : {}),
    ...(extras.connections ? { connections: { images: extras.connections.images, seconds: extras.connections.seconds, pairs: extras.connections.pairs } } : {}),
  });

  let filtersComputed = 0;
  let filtersReused = 0;
  try {
    const total = plans.reduce((sum, p) => sum + p.filters.length * p.methods.length, 0);
    // Weighted by each layer's cost: a late layer at full size takes many times an early one.
    const work = plans.reduce((sum, p) => sum + p.methods.reduce((w, m) => w + p.filters.length * m.cost, 0), 0);
    const progress = deps.progress('filters', total, { work });
    for (const plan of plans) {
      for (const [m, { method, batchSize, cost }] of plan.methods.entries()) {
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
          filterCost: cost,
          concurrency: config.batch.concurrency,
          signal,
          progress,
          // Into the build's map at once, so atlas.json written after a batch lists this layer's finished filters too.
          onRecord: (record) => records.get(plan.name)![m].set(record.filter, record),
          onBatchWritten: async () => {
            changed = true;
            await store.writeAtlas(assemble(false));
          },
        });
        filtersComputed += result.computed;
        filtersReused += result.reused;
      }
    }
    progress.stop();

    // Web versions of the main pictures; a layer's other methods are shown from their PNGs.
    const visualRecords = plans.flatMap((p) => [...records.get(p.name)![0].values()]);
    const webImages = await runWebImages({ store, records: visualRecords, progress: deps.progress('web images', visualRecords.length), signal });
    extras.web = webImages.images;
    if (webImages.computed > 0) changed = true;

    if (config.dataset) {
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
        progress: deps.progress,
      });
      dataset = { source, stage };
      if (stage.scanned) changed = true;
      const byFile = new Map(source.images.map((image) => [image.file, image]));
      const scanned = stage.scan.images.map((file) => byFile.get(file)!);
      extras.labeller = await datasetLabeller(scanned);
      const pairs = layerPairs(model, plans);
      if (pairs.length > 0) {
        const connections = await runConnections({
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
        });
        if (connections.computed > 0) changed = true;
        const seconds = [...connections.records.values()].flatMap((m) => [...m.values()]).reduce((sum, r) => sum + r.seconds, 0);
        extras.connections = { ...connections, seconds, pairs, images: `each filter's top ${config.dataset.topK} dataset images` };
      }
      const skipped = [...(source.skipped ?? []), ...stage.scan.skipped];
      if (skipped.length > 0) deps.log(`dataset: skipped ${skipped.length} unreadable file(s): ${skipped.map((s) => s.file).join(', ')}`);
    }

    // The browser probe's model, checked on a dataset photo (or grey when there is no dataset).
    const [height, width] = model.preprocessing.inputSize;
    const first = dataset?.source.images.find((image) => image.file === dataset!.stage.scan.images[0]);
    const sample = first ? (await loadImageForModel(first.path, model.preprocessing)).data : new Float32Array(3 * height * width).fill(0.5);
    const emitted = await runProbeModel({ model, engine, store, layers: plans.map((p) => p.name), sample: { data: sample, n: 1, height, width } });
    probeModel = emitted.probeModel;
    if (emitted.computed) changed = true;

    let probesComputed = 0;
    for (const entry of config.probes) {
      const plan: ProbePlan = { ...entry, path: await deps.resolveSource(entry.image, signal), source: entry.image };
      const outcome = await runProbe(model, engine, store, plan);
      if ('skipped' in outcome) {
        deps.log(`probe ${entry.image} at ${entry.layer}: skipped, ${outcome.skipped}`);
        continue;
      }
      probes.push(outcome.probe);
      if (outcome.computed) {
        probesComputed++;
        changed = true;
      }
    }

    await store.writeAtlas(assemble(true));
    return {
      atlasDir: store.dir,
      filtersComputed,
      filtersReused,
      datasetScanned: dataset?.stage.scanned ?? false,
      probesComputed,
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    await engine.dispose();
  }
}
