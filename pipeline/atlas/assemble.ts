/**
 * atlas.json from its parts, one function for `build` and `merge`: a merged atlas must be the atlas
 * one build would have written, so both go through the same assembly. The *frame* is what the
 * config, the model and the engine fix before any work (model, engine, methods, the layers'
 * metadata); the *content* is what the stages produced (records, the scan, probes, web images,
 * labels, connections, the browser probe model). A shard stores its frame in its manifest, so
 * `merge` needs neither the model nor an engine.
 */
import { z } from 'zod';
import { superstimulusRatio } from '../dataset/quality.js';
import type { Labeller } from '../labels/for-dataset.js';
import type { MethodKind } from '../schema/method.js';
import type { ConnectionsRecord, FilterExamplesRecord, ScanRecord, VisualRecord, WebRecord } from './records.js';
import { atlasSchema, layerSchema, type Atlas, type AtlasFilter, type AtlasFilterView, type AtlasLayer, type AtlasMissing, type AtlasProbe, type ProbeModel } from '../schema/atlas.js';
import { strongest } from './stage-connections.js';
import { judgeLayers } from './dead-in-layer.js';

export const frameSchema = atlasSchema
  .pick({ schemaVersion: true, id: true, title: true, model: true, engine: true, method: true })
  .extend({ layers: z.array(layerSchema.omit({ filters: true, datasetMeans: true })) });
export type AtlasFrame = z.infer<typeof frameSchema>;

/** Connected filters shown per filter page, each way (strongest positive and most negative). */
const CONNECTIONS_SHOWN = 8;

/** The dataset part of an atlas: what the listing found and what the scan and examples stage wrote. */
export interface AssembledDataset {
  /** How the config names the dataset (atlas `dataset.name`). */
  name: string;
  digest: string;
  /** Files the listing could not read (the scan reports its own). */
  listingSkipped: Array<{ file: string; reason: string }>;
  scan: ScanRecord;
  /** Layer -> filter -> examples. */
  examples: Map<string, Map<number, FilterExamplesRecord>>;
  /** The dominant label of a filter's top images (absent: the dataset has no labels). */
  labeller?: Labeller;
}

/** The connections stage's records and what atlas.json says of it. */
export interface AssembledConnections {
  /** Later layer -> filter -> record. */
  records: Map<string, Map<number, ConnectionsRecord>>;
  pairs: Array<{ layer: string; from: string }>;
  /** Which images were attributed over, in words. */
  images: string;
}

export interface AtlasContent {
  createdAt: string;
  complete: boolean;
  /** What an incomplete merge lacks (absent from a build's atlas). */
  missing?: AtlasMissing;
  /** Layer -> per method of the layer (frame order: main first) -> filter -> its visualisation record. */
  filters: Map<string, Array<Map<number, VisualRecord>>>;
  /** Layer -> its selected filters (connections are listed among those only: they have pages). */
  selected: Map<string, ReadonlySet<number>>;
  /** Visualisation record key -> its web images. */
  web: Map<string, WebRecord>;
  dataset?: AssembledDataset;
  connections?: AssembledConnections;
  probes: AtlasProbe[];
  probeModel?: ProbeModel;
}

/** The superstimulus ratio of a picture's activation against the filter's best dataset photo (both spatial means). */
function superstimulusOf(record: VisualRecord, layer: string, dataset: AssembledDataset | undefined): number | undefined {
  const scanLayer = dataset?.scan.layers.find((l) => l.layer === layer);
  if (!scanLayer?.stats[record.filter]) return undefined;
  const bestMean = scanLayer.top[record.filter]?.[0]?.mean;
  return record.status === 'failed' || bestMean === undefined ? undefined : superstimulusRatio(record.activation, bestMean);
}

function connectionsOf(content: AtlasContent, layer: string, filter: number): Pick<AtlasFilter, 'inputs' | 'feeds'> {
  const out: Pick<AtlasFilter, 'inputs' | 'feeds'> = {};
  const c = content.connections;
  if (!c) return out;
  const into = c.pairs.find((p) => p.layer === layer);
  const record = into && c.records.get(layer)?.get(filter);
  if (into && record) out.inputs = { layer: into.from, images: `${record.images.length} top images`, ...strongest(record.values, content.selected.get(into.from), CONNECTIONS_SHOWN) };
  const onward = c.pairs.find((p) => p.from === layer);
  const later = onward && c.records.get(onward.layer);
  if (onward && later && later.size > 0) {
    const values: number[] = [];
    for (const [j, r] of later) values[j] = r.values[filter];
    out.feeds = { layer: onward.layer, ...strongest(Array.from(values, (v) => v ?? Number.NaN), undefined, CONNECTIONS_SHOWN) };
  }
  return out;
}

function assembleFilter(record: VisualRecord, layer: string, content: AtlasContent, others: Array<{ kind: MethodKind; record: VisualRecord | undefined }>): AtlasFilter {
  const { dataset } = content;
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
    const dominant = dataset?.labeller?.(examples.top.map((t) => t.file));
    if (dominant !== undefined) entry.dominant = dominant;
  }
  const web = content.web.get(record.key);
  if (web) entry.web = web;
  const views = others.flatMap(({ kind, record: other }): AtlasFilterView[] => {
    if (!other) return [];
    const { startActivation: _s, filter: _f, ...fields } = other;
    const ratio = superstimulusOf(other, layer, dataset);
    return [{ kind, ...fields, ...(ratio !== undefined ? { superstimulus: ratio } : {}) }];
  });
  if (views.length > 0) entry.others = views;
  return { ...entry, ...connectionsOf(content, layer, record.filter) };
}

export function assembleAtlas(frame: AtlasFrame, content: AtlasContent): Atlas {
  const { dataset, connections } = content;
  // Dead is relative to the layer (dead-in-layer.ts): the records' stage verdicts, judged per layer and method.
  const pictures = judgeLayers(content.filters);
  return {
    schemaVersion: frame.schemaVersion,
    id: frame.id,
    title: frame.title,
    createdAt: content.createdAt,
    complete: content.complete,
    ...(content.missing ? { missing: content.missing } : {}),
    model: frame.model,
    engine: frame.engine,
    method: frame.method,
    ...(dataset
      ? {
          dataset: {
            name: dataset.name,
            digest: dataset.digest,
            images: dataset.scan.images,
            skipped: [...dataset.listingSkipped, ...dataset.scan.skipped],
            scanSeconds: dataset.scan.seconds,
          },
        }
      : {}),
    layers: frame.layers.map((layer): AtlasLayer => {
      const scanLayer = dataset?.scan.layers.find((l) => l.layer === layer.name);
      const [main, ...otherMethods] = pictures.get(layer.name) ?? [];
      const otherKinds = (layer.otherMethods ?? []).map((m) => m.kind ?? 'article');
      return {
        ...layer,
        filters: [...(main?.values() ?? [])]
          .sort((a, b) => a.filter - b.filter)
          .map((r) => assembleFilter(r, layer.name, content, otherKinds.map((kind, k) => ({ kind, record: otherMethods[k]?.get(r.filter) })))),
        ...(scanLayer ? { datasetMeans: scanLayer.means } : {}),
      };
    }),
    probes: content.probes,
    ...(content.probeModel ? { probeModel: content.probeModel } : {}),
    ...(connections
      ? { connections: { images: connections.images, seconds: sumSeconds(connections.records), pairs: connections.pairs } }
      : {}),
  };
}

/** The connections stage's compute time: the sum over its records (a rerun that reuses them all reports the same). */
function sumSeconds(records: AssembledConnections['records']): number {
  return [...records.values()].flatMap((m) => [...m.values()]).reduce((sum, r) => sum + r.seconds, 0);
}
