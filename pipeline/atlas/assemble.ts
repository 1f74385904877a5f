/**
 * atlas.json from its parts, one function for `build` and `merge`: a merged atlas must be the atlas
 * one build would have written, so both go through the same assembly. The *frame* is what the
 * config, the model and the engine fix before any work (model, engine, method, the layers'
 * metadata); the *content* is what the stages produced (records, the scan, probes). A shard stores
 * its frame in its manifest, so `merge` needs neither the model nor an engine.
 */
import { z } from 'zod';
import { superstimulusRatio } from '../dataset/quality.js';
import type { FilterExamplesRecord, ScanRecord, VisualRecord } from './records.js';
import { atlasSchema, layerSchema, type Atlas, type AtlasFilter, type AtlasLayer, type AtlasMissing, type AtlasProbe } from './schema.js';

export const frameSchema = atlasSchema
  .pick({ schemaVersion: true, id: true, title: true, model: true, engine: true, method: true })
  .extend({ layers: z.array(layerSchema.omit({ filters: true, datasetMeans: true })) });
export type AtlasFrame = z.infer<typeof frameSchema>;

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
}

export interface AtlasContent {
  createdAt: string;
  complete: boolean;
  /** What an incomplete merge lacks (absent from a build's atlas). */
  missing?: AtlasMissing;
  /** Layer -> filter -> its visualisation record. */
  filters: Map<string, Map<number, VisualRecord>>;
  dataset?: AssembledDataset;
  probes: AtlasProbe[];
}

function assembleFilter(record: VisualRecord, layer: string, dataset: AssembledDataset | undefined): AtlasFilter {
  const { startActivation: _start, ...filter } = record;
  const scanLayer = dataset?.scan.layers.find((l) => l.layer === layer);
  const stats = scanLayer?.stats[record.filter] ?? undefined;
  const examples = dataset?.examples.get(layer)?.get(record.filter);
  const entry: AtlasFilter = { ...filter };
  if (stats) {
    entry.stats = stats;
    // Like with like: the visualisation's spatial mean against the best dataset image's spatial mean.
    const bestMean = scanLayer?.top[record.filter]?.[0]?.mean;
    const ratio = record.status === 'failed' || bestMean === undefined ? undefined : superstimulusRatio(record.activation, bestMean);
    if (ratio !== undefined) entry.superstimulus = ratio;
  }
  if (examples) {
    entry.top = examples.top;
    entry.labels = examples.labels;
  }
  return entry;
}

export function assembleAtlas(frame: AtlasFrame, content: AtlasContent): Atlas {
  const { dataset } = content;
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
      return {
        ...layer,
        filters: [...(content.filters.get(layer.name)?.values() ?? [])].sort((a, b) => a.filter - b.filter).map((r) => assembleFilter(r, layer.name, dataset)),
        ...(scanLayer ? { datasetMeans: scanLayer.means } : {}),
      };
    }),
    probes: content.probes,
  };
}
