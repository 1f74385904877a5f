/**
 * The assembly inputs of an atlas (assemble.ts AtlasContent, less what a run decides: the date and
 * completeness) gathered from its records, one function for `build` and `merge`, so that a merged
 * atlas is the one a build writes by construction: the same units of work, the same record keys
 * (the examples key comes from keys.ts filterExamplesKey, as the dataset stage writes it), the same
 * labeller over the same images. What differs is only where records are read from: the build's own
 * folder, or (merge) the output and the shards' folders, every file verified (shard-files.ts).
 */
import type { z } from 'zod';
import type { Dataset } from '../dataset/list.js';
import { datasetLabeller } from '../labels/for-dataset.js';
import type { AtlasProbe, ProbeModel } from '../schema/atlas.js';
import type { AssembledConnections, AssembledDataset, AtlasContent } from './assemble.js';
import { filterExamplesKey, webKey } from './keys.js';
import {
  connectionsRecordSchema,
  examplesFiles,
  examplesRecordSchema,
  probeModelRecordSchema,
  probeRecordSchema,
  scanRecordSchema,
  visualFiles,
  visualRecordSchema,
  webFiles,
  webRecordSchema,
  type ConnectionsRecord,
  type FilterExamplesRecord,
  type VisualRecord,
  type WebRecord,
} from './records.js';
import type { DatasetResult, ManifestUnit } from './shard-manifest.js';
import type { AtlasStore } from './store.js';

/** A file a record names, with its exact size when the record implies one. */
export interface RecordFile {
  file: string;
  bytes?: number;
}

/** Where records come from: the record of `key` when it is there, matches `schema` and `accept`, and every file it names is sound. */
export interface RecordReader {
  read<S extends z.ZodType>(key: string, schema: S, files: (record: z.infer<S>) => RecordFile[], accept?: (record: z.infer<S>) => boolean): Promise<z.infer<S> | undefined>;
}

/**
 * Which records make the atlas: every unit of work with its record keys (batches; the dataset unit)
 * and what the dataset unit left (absent until it ran). A shard's manifest holds exactly this.
 */
export interface AtlasIndex {
  units: readonly ManifestUnit[];
  dataset?: DatasetResult;
}

export type GatheredContent = Omit<AtlasContent, 'createdAt' | 'complete' | 'missing'>;

export interface Gathered {
  content: GatheredContent;
  /** Indices into `units` whose records are not all there: a batch is taken whole or not at all, the dataset unit too. */
  missingUnits: number[];
  /** Main pictures taken without their web images (merge makes them from the PNG). */
  withoutWeb: VisualRecord[];
  /** Keys of every record taken. */
  taken: string[];
}

/** A build's own records: from its atlas folder, taken when every file they name is there; each read once (a record never changes under its key). */
export function storeReader(store: AtlasStore): RecordReader {
  const taken = new Map<string, unknown>();
  return {
    async read<S extends z.ZodType>(key: string, schema: S, files: (record: z.infer<S>) => RecordFile[], accept: (record: z.infer<S>) => boolean = () => true) {
      const record = (taken.get(key) as z.infer<S> | undefined) ?? (await store.readComplete(key, schema, (r) => files(r).map((f) => f.file)));
      if (record === undefined || !accept(record)) return undefined;
      taken.set(key, record);
      return record;
    },
  };
}

const plain = (files: string[]): RecordFile[] => files.map((file) => ({ file }));

/** What the dataset unit records of a dataset for the assembly: what the dominant labels need, and whether labels come from file names (keys.ts). */
export function datasetEntry(name: string, source: Dataset, scanKey: string): NonNullable<DatasetResult['dataset']> {
  return {
    name,
    digest: source.digest,
    listingSkipped: source.skipped ?? [],
    scanKey,
    labelsFromFileNames: source.labelSource === 'file-names',
    images: source.images.map(({ file, label, wnid }) => ({ file, ...(label !== undefined ? { label } : {}), ...(wnid !== undefined ? { wnid } : {}) })),
  };
}

/** The assembly inputs of the atlas `index` describes, from `reader`'s records. */
export async function gatherAssembly(frameLayers: ReadonlyArray<{ name: string; otherMethods?: readonly unknown[] }>, index: AtlasIndex, reader: RecordReader): Promise<Gathered> {
  // Per layer, per method (the main picture first), filter -> record; and each main picture's web images.
  const filters = new Map<string, Array<Map<number, VisualRecord>>>(frameLayers.map((layer) => [layer.name, [undefined, ...(layer.otherMethods ?? [])].map(() => new Map())]));
  const selected = new Map<string, Set<number>>(frameLayers.map((layer) => [layer.name, new Set()]));
  const web = new Map<string, WebRecord>();
  const missingUnits: number[] = [];
  const withoutWeb: VisualRecord[] = [];
  const taken: string[] = [];
  for (const [u, unit] of index.units.entries()) {
    if (unit.kind !== 'batch') continue;
    for (const filter of unit.filters) selected.get(unit.layer)?.add(filter);
    const found: Array<{ visual: VisualRecord; web?: WebRecord }> = [];
    for (const [i, filter] of unit.filters.entries()) {
      const key = unit.keys[i];
      const visual = await reader.read(key, visualRecordSchema, (r) => plain(visualFiles(r)), (r) => r.key === key && r.filter === filter);
      if (!visual) break;
      const images = unit.method === 0 && visual.image ? await reader.read(webKey({ viz: key }), webRecordSchema, (r) => plain(webFiles(r))) : undefined;
      found.push({ visual, ...(images ? { web: images } : {}) });
    }
    if (found.length < unit.filters.length) {
      missingUnits.push(u);
      continue;
    }
    for (const [i, { visual, web: images }] of found.entries()) {
      filters.get(unit.layer)?.[unit.method]?.set(visual.filter, visual);
      taken.push(unit.keys[i]);
      if (images) {
        web.set(visual.key, images);
        taken.push(webKey({ viz: visual.key }));
      } else if (unit.method === 0 && visual.image) withoutWeb.push(visual);
    }
  }
  const content: GatheredContent = { filters, selected, web, probes: [] };
  const datasetUnit = index.units.findIndex((unit) => unit.kind === 'dataset');
  if (index.dataset) {
    const gathered = await gatherDatasetUnit(index, reader);
    if (gathered) {
      Object.assign(content, gathered.content);
      taken.push(...gathered.taken);
    } else if (datasetUnit >= 0) missingUnits.push(datasetUnit);
  } else if (datasetUnit >= 0) missingUnits.push(datasetUnit);
  return { content, missingUnits, withoutWeb, taken };
}

/** The dataset unit's records (scan, every filter's examples, connections, the probe model, the probes), all there, or undefined. */
async function gatherDatasetUnit(index: AtlasIndex, reader: RecordReader): Promise<{ content: Partial<GatheredContent>; taken: string[] } | undefined> {
  const result = index.dataset!;
  const taken: string[] = [];
  let dataset: AssembledDataset | undefined;
  if (result.dataset) {
    const { scanKey } = result.dataset;
    const scan = await reader.read(
      scanKey,
      scanRecordSchema,
      (record) => record.layers.map((layer) => ({ file: layer.means, bytes: record.images.length * layer.channels * 4 })),
      (record) => record.key === scanKey,
    );
    if (!scan) return undefined;
    taken.push(scanKey);
    const examples = new Map<string, Map<number, FilterExamplesRecord>>();
    const selected = new Map<string, number[]>();
    // Each filter once: a layer's other methods cut the same filters into their own batches.
    for (const unit of index.units) if (unit.kind === 'batch' && unit.method === 0) selected.set(unit.layer, [...(selected.get(unit.layer) ?? []), ...unit.filters]);
    for (const layer of scan.layers) {
      const perFilter = new Map<number, FilterExamplesRecord>();
      examples.set(layer.layer, perFilter);
      for (const filter of selected.get(layer.layer) ?? []) {
        const key = filterExamplesKey(scanKey, layer.layer, filter, result.dataset.labelsFromFileNames);
        const record = await reader.read(key, examplesRecordSchema, (r) => plain(examplesFiles(r)));
        if (!record) return undefined;
        taken.push(key);
        perFilter.set(filter, record);
      }
    }
    // Labelled over the images the scan read, in scan order.
    const byFile = new Map(result.dataset.images.map((image) => [image.file, image]));
    const labeller = await datasetLabeller(scan.images.flatMap((file) => byFile.get(file) ?? []));
    dataset = { name: result.dataset.name, digest: result.dataset.digest, listingSkipped: result.dataset.listingSkipped, scan, examples, ...(labeller ? { labeller } : {}) };
  }
  let connections: AssembledConnections | undefined;
  if (result.connections) {
    const { pairs, images, keys } = result.connections;
    // As the connections stage returns them: every pair's layer, with the records of its filters.
    const records = new Map<string, Map<number, ConnectionsRecord>>(pairs.map((pair) => [pair.layer, new Map()]));
    for (const { layer, filter, key } of keys) {
      const record = await reader.read(key, connectionsRecordSchema, () => [], (r) => r.layer === layer && r.filter === filter);
      if (!record) return undefined;
      taken.push(key);
      records.get(layer)?.set(filter, record);
    }
    connections = { records, pairs, images };
  }
  let probeModel: ProbeModel | undefined;
  if (result.probeModelKey) {
    probeModel = await reader.read(result.probeModelKey, probeModelRecordSchema, (r) => [{ file: r.file, bytes: r.bytes }, ...(r.fp16 ? [{ file: r.fp16.file, bytes: r.fp16.bytes }] : [])]);
    if (!probeModel) return undefined;
    taken.push(result.probeModelKey);
  }
  const probes: AtlasProbe[] = [];
  for (const probe of result.probes) {
    const record = await reader.read(probe.key, probeRecordSchema, (r) => plain([r.image, r.chart]));
    if (!record) return undefined;
    taken.push(probe.key);
    probes.push({ ...record, id: probe.id, source: probe.source });
  }
  return { content: { ...(dataset ? { dataset } : {}), ...(connections ? { connections } : {}), ...(probeModel ? { probeModel } : {}), probes }, taken };
}
