/**
 * `filter-atlas merge <shard folders...> --output DIR`: the atlas of a sharded build, from the
 * folders its shards wrote, with no coordination between them. Per atlas id found:
 * 1. the shards must be of one build (shard-manifest.ts checkSameBuild: code, weights, engine
 *    device, config), else nothing is written;
 * 2. every unit of work is looked up in every folder (the output's own first): a record is taken
 *    when it parses, matches its schema and every file it names passes verify-files.ts; its files,
 *    then the record, are linked or copied into the output (a batch whole or not at all, like build);
 * 3. atlas.json is assembled as build assembles it (assemble.ts), `complete: false` with a
 *    `missing` list (filters, dataset, probes, the shards to rerun) when anything is missing.
 * Shards may also have written into one shared folder, which may be the output: then nothing moves.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { z } from 'zod';
import { userError } from '../errors.js';
import { placeFileAtomic } from '../util/fs.js';
import { datasetLabeller } from '../labels/for-dataset.js';
import { assembleAtlas, type AssembledConnections, type AssembledDataset, type AtlasContent } from './assemble.js';
import { codeVersion } from './code-version.js';
import { examplesKey, webKey } from './keys.js';
import {
  connectionsRecordSchema,
  examplesFiles,
  examplesRecordSchema,
  probeModelFiles,
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
import { atlasSchema, type AtlasMissing, type AtlasProbe, type ProbeModel } from '../schema/atlas.js';
import { checkSameBuild, readManifests, type ManifestFile, type ShardManifest } from './shard-manifest.js';
import { formatShard } from './shard-spec.js';
import { AtlasStore } from './store.js';
import { fileProblem } from './verify-files.js';
import { runWebImages } from './stage-web-images.js';

export interface MergeInput {
  /** Shard atlas folders (holding shards/K-of-N.json), or folders that hold such atlas folders. */
  dirs: string[];
  /** Output folder: each atlas goes to <output>/<atlas id>. */
  output: string;
  signal?: AbortSignal;
}

export interface MergeDeps {
  log(message: string): void;
  now(): Date;
  /** This code's version (code-version.ts); tests may pass another. */
  codeVersion?: () => Promise<string>;
}

export interface MergeSummary {
  atlas: string;
  atlasDir: string;
  complete: boolean;
  missing?: AtlasMissing;
  /** The shard manifests merged, as "K/N", and the folders they came from. */
  shards: string[];
  folders: string[];
  filters: number;
  /** Files and records linked or copied into the output (0 when the shards wrote there). */
  placed: number;
  /** Files checked (every file of every record taken). */
  verified: number;
  seconds: number;
}

async function isDirectory(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined))?.isDirectory() ?? false;
}

/**
 * The shard manifests under each argument: in it (an atlas folder) or one level down (an output
 * folder). A folder with none is a shard that never ran or never started: said, and left out (its
 * work is then reported missing); none at all is an error.
 */
async function findManifests(dirs: readonly string[], log: (message: string) => void): Promise<ManifestFile[]> {
  const found: ManifestFile[] = [];
  for (const dir of dirs) {
    const path = resolve(dir);
    let here: ManifestFile[] = [];
    if (await isDirectory(path)) {
      here = await readManifests(path);
      if (here.length === 0) {
        const children = (await readdir(path, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => join(path, e.name)).sort();
        here = (await Promise.all(children.map((child) => readManifests(child)))).flat();
      }
    }
    if (here.length === 0) log(`merge: no shard manifest in ${dir} (${(await isDirectory(path)) ? 'a shard that did not start?' : 'no such folder'}): its work will be reported missing`);
    found.push(...here);
  }
  if (found.length === 0) {
    throw userError({
      where: dirs.join(', '),
      expected: 'a shard\'s folder: an atlas folder with shards/K-of-N.json, or an output folder holding one (what `filter-atlas build --shard K/N --output DIR` writes)',
      received: 'folders without shard manifests',
      fix: 'Pass the folders the shards wrote. An atlas built without --shard is already complete and needs no merge.',
    });
  }
  return found;
}

interface Source {
  store: AtlasStore;
  /** Real path, to recognise the output among the sources. */
  real: string;
}

interface Found<T> {
  record: T;
  source: Source;
  /** Atlas-relative files the record names. */
  files: string[];
}

/** Lookups of records across the sources, with the problems met on the way (damaged copies). */
class Finder {
  readonly problems: string[] = [];
  verified = 0;
  constructor(readonly sources: readonly Source[]) {}

  async find<S extends z.ZodType>(
    key: string,
    schema: S,
    files: (record: z.infer<S>) => Array<{ file: string; bytes?: number }>,
    accept: (record: z.infer<S>) => boolean = () => true,
  ): Promise<Found<z.infer<S>> | undefined> {
    for (const source of this.sources) {
      const record = await source.store.readRecord(key, schema);
      if (record === undefined || !accept(record)) continue;
      const named = files(record);
      let bad: string | undefined;
      for (const { file, bytes } of named) {
        this.verified += 1;
        const problem = await fileProblem(source.store.path(file), { bytes });
        if (problem) {
          bad = `${source.store.dir}: records/${key}.json names ${file}, which is ${problem}`;
          break;
        }
      }
      if (bad) {
        this.problems.push(bad);
        continue;
      }
      return { record, source, files: named.map((n) => n.file) };
    }
    return undefined;
  }
}

const plain = (files: string[]) => files.map((file) => ({ file }));

async function mergeAtlas(entries: ManifestFile[], input: MergeInput, deps: MergeDeps): Promise<MergeSummary> {
  const started = performance.now();
  const first = entries[0].manifest;
  const dest = new AtlasStore(join(resolve(input.output), first.atlas));
  await dest.removeLitter();
  const destReal = await realpath(dest.dir).catch(() => resolve(dest.dir));
  // The output first (a rerun of merge moves nothing), then the shard folders in shard order.
  const sources: Source[] = [{ store: dest, real: destReal }];
  for (const entry of entries) {
    const real = await realpath(entry.dir);
    if (!sources.some((s) => s.real === real)) sources.push({ store: new AtlasStore(entry.dir), real });
  }
  const finder = new Finder(sources);
  const placed = new Set<string>();
  const place = async (found: Found<unknown>, key: string) => {
    if (found.source.real === destReal) return;
    // Files first, the record last: its presence marks the artifact complete, as in build.
    for (const file of [...found.files, `records/${key}.json`]) {
      if (placed.has(file)) continue;
      input.signal?.throwIfAborted();
      await placeFileAtomic(found.source.store.path(file), dest.path(file));
      placed.add(file);
    }
  };

  // Per layer, per method (the main picture first), filter -> record; and each main picture's web images.
  const filters = new Map<string, Array<Map<number, VisualRecord>>>(first.frame.layers.map((layer) => [layer.name, [layer.method, ...(layer.otherMethods ?? [])].map(() => new Map())]));
  const web = new Map<string, WebRecord>();
  let webMade = 0;
  const selected = new Map<string, Set<number>>(first.frame.layers.map((layer) => [layer.name, new Set()]));
  const missingFilters = new Map<string, Set<number>>();
  const missingUnits = new Set<number>();
  for (const [u, unit] of first.units.entries()) {
    if (unit.kind !== 'batch') continue;
    input.signal?.throwIfAborted();
    for (const filter of unit.filters) selected.get(unit.layer)?.add(filter);
    const found: Array<{ visual: Found<VisualRecord>; web?: { key: string; hit: Found<WebRecord> } }> = [];
    for (const [i, filter] of unit.filters.entries()) {
      const key = unit.keys[i];
      const visual = await finder.find(key, visualRecordSchema, (r) => plain(visualFiles(r)), (r) => r.key === key && r.filter === filter);
      if (!visual) break;
      // A main picture's web images, when its shard wrote them (it writes them right after the batch).
      const webRecordKey = webKey({ viz: key });
      const hit = unit.method === 0 && visual.record.image ? await finder.find(webRecordKey, webRecordSchema, (r) => plain(webFiles(r))) : undefined;
      found.push({ visual, ...(hit ? { web: { key: webRecordKey, hit } } : {}) });
    }
    // A batch is taken whole or not at all: its filters' pictures depend on each other.
    if (found.length < unit.filters.length) {
      missingUnits.add(u);
      const missing = missingFilters.get(unit.layer) ?? new Set<number>();
      for (const filter of unit.filters) missing.add(filter);
      missingFilters.set(unit.layer, missing);
      continue;
    }
    for (const [i, { visual, web: webFound }] of found.entries()) {
      await place(visual, unit.keys[i]);
      filters.get(unit.layer)![unit.method].set(visual.record.filter, visual.record);
      if (webFound) {
        await place(webFound.hit, webFound.key);
        web.set(unit.keys[i], webFound.hit.record);
      } else if (unit.method === 0 && visual.record.image) {
        // A shard killed between its batch and the batch's web images: they are made from the PNG
        // alone (no model, no engine), the same bytes the shard would have written.
        const made = await runWebImages({ store: dest, records: [visual.record], signal: input.signal });
        for (const [key, images] of made.images) web.set(key, images);
        webMade += made.computed;
      }
    }
  }

  let dataset: AssembledDataset | undefined;
  let connections: AssembledConnections | undefined;
  let probeModel: ProbeModel | undefined;
  const probes: AtlasProbe[] = [];
  let datasetMissing = false;
  let probesMissing: string[] = [];
  const datasetUnit = first.units.findIndex((unit) => unit.kind === 'dataset');
  const config = first.config as { dataset?: unknown; probes?: Array<{ image: string; layer: string }> };
  if (datasetUnit >= 0) {
    const result = entries.find((entry) => entry.manifest.datasetResult)?.manifest.datasetResult;
    const gathered = result && (await gatherDataset(result, first, finder));
    if (gathered) {
      for (const [key, hit] of gathered.found) await place(hit, key);
      dataset = gathered.dataset;
      connections = gathered.connections;
      probeModel = gathered.probeModel;
      probes.push(...gathered.probes);
    } else {
      missingUnits.add(datasetUnit);
      datasetMissing = config.dataset !== null && config.dataset !== undefined;
      probesMissing = (config.probes ?? []).map((probe) => `${probe.image} at ${probe.layer}`);
    }
  }

  const missing: AtlasMissing | undefined =
    missingUnits.size === 0
      ? undefined
      : {
          filters: first.frame.layers.filter((layer) => missingFilters.has(layer.name)).map((layer) => ({ layer: layer.name, filters: [...missingFilters.get(layer.name)!].sort((a, b) => a - b) })),
          dataset: datasetMissing,
          probes: probesMissing,
          shards: shardsToRerun(first, missingUnits),
        };
  const content: AtlasContent = {
    createdAt: deps.now().toISOString(),
    complete: missing === undefined,
    ...(missing ? { missing } : {}),
    filters,
    selected,
    web,
    ...(dataset ? { dataset } : {}),
    ...(connections ? { connections } : {}),
    probes,
    ...(probeModel ? { probeModel } : {}),
  };
  // A merge that changes nothing keeps the date of the atlas it would rewrite, and writes nothing.
  const previous = await dest.readAtlas();
  if (previous) {
    const again = atlasSchema.parse(assembleAtlas(first.frame, { ...content, createdAt: previous.createdAt }));
    if (JSON.stringify(again) === JSON.stringify(previous)) content.createdAt = previous.createdAt;
  }
  await dest.writeAtlas(assembleAtlas(first.frame, content));

  if (webMade > 0) deps.log(`merge: made the web images of ${webMade} picture(s) whose shard stopped before it wrote them`);
  for (const problem of finder.problems.slice(0, 20)) deps.log(`merge: skipped a damaged copy: ${problem}`);
  if (finder.problems.length > 20) deps.log(`merge: (and ${finder.problems.length - 20} more damaged copies)`);
  return {
    atlas: first.atlas,
    atlasDir: dest.dir,
    complete: missing === undefined,
    ...(missing ? { missing } : {}),
    shards: entries.map((entry) => formatShard(entry.manifest.shard)),
    folders: [...new Set(entries.map((entry) => entry.dir))],
    filters: [...filters.values()].reduce((sum, methods) => sum + methods.reduce((n, layer) => n + layer.size, 0), 0),
    placed: placed.size,
    verified: finder.verified,
    seconds: (performance.now() - started) / 1000,
  };
}

/** The shards (as the first manifest's split assigns units) whose units are missing. */
function shardsToRerun(manifest: ShardManifest, missingUnits: ReadonlySet<number>): string[] {
  const shards = new Set([...missingUnits].map((u) => manifest.assignment[u]));
  return [...shards].sort((a, b) => a - b).map((index) => formatShard({ index, count: manifest.shard.count }));
}

interface GatheredDataset {
  dataset?: AssembledDataset;
  connections?: AssembledConnections;
  probeModel?: ProbeModel;
  probes: AtlasProbe[];
  found: Array<[string, Found<unknown>]>;
}

/** The dataset unit's records (scan, every filter's examples, connections, the probe model, the probes), all verified, or undefined. */
async function gatherDataset(result: NonNullable<ShardManifest['datasetResult']>, manifest: ShardManifest, finder: Finder): Promise<GatheredDataset | undefined> {
  const found: Array<[string, Found<unknown>]> = [];
  let dataset: AssembledDataset | undefined;
  if (result.dataset) {
    const { scanKey } = result.dataset;
    const scan = await finder.find(
      scanKey,
      scanRecordSchema,
      (record) => record.layers.map((layer) => ({ file: layer.means, bytes: record.images.length * layer.channels * 4 })),
      (record) => record.key === scanKey,
    );
    if (!scan) return undefined;
    found.push([scanKey, scan]);
    const examples = new Map<string, Map<number, FilterExamplesRecord>>();
    const selected = new Map<string, number[]>();
    // Each filter once: a layer's other methods cut the same filters into their own batches.
    for (const unit of manifest.units) if (unit.kind === 'batch' && unit.method === 0) selected.set(unit.layer, [...(selected.get(unit.layer) ?? []), ...unit.filters]);
    for (const layer of scan.record.layers) {
      const perFilter = new Map<number, FilterExamplesRecord>();
      examples.set(layer.layer, perFilter);
      for (const filter of selected.get(layer.layer) ?? []) {
        const key = examplesKey({ scan: scanKey, layer: layer.layer, filter, ...(result.dataset.labelsFromFileNames ? { labels: 'file-names' as const } : {}) });
        const hit = await finder.find(key, examplesRecordSchema, (record) => plain(examplesFiles(record)));
        if (!hit) return undefined;
        found.push([key, hit]);
        perFilter.set(filter, hit.record);
      }
    }
    // Labelled as build labels them: over the images the scan read, in scan order.
    const byFile = new Map(result.dataset.images.map((image) => [image.file, image]));
    const labeller = await datasetLabeller(scan.record.images.flatMap((file) => byFile.get(file) ?? []));
    dataset = { name: result.dataset.name, digest: result.dataset.digest, listingSkipped: result.dataset.listingSkipped, scan: scan.record, examples, ...(labeller ? { labeller } : {}) };
  }
  let connections: AssembledConnections | undefined;
  if (result.connections) {
    const { pairs, images, keys } = result.connections;
    // As the connections stage returns them: every pair's layer, with the records of its filters.
    const records = new Map<string, Map<number, ConnectionsRecord>>(pairs.map((pair) => [pair.layer, new Map()]));
    for (const { layer, filter, key } of keys) {
      const hit = await finder.find(key, connectionsRecordSchema, () => [], (record) => record.layer === layer && record.filter === filter);
      if (!hit) return undefined;
      found.push([key, hit]);
      records.get(layer)?.set(filter, hit.record);
    }
    connections = { records, pairs, images };
  }
  let probeModel: ProbeModel | undefined;
  if (result.probeModelKey) {
    const hit = await finder.find(result.probeModelKey, probeModelRecordSchema, (record) => plain(probeModelFiles(record)));
    if (!hit) return undefined;
    found.push([result.probeModelKey, hit]);
    probeModel = hit.record;
  }
  const probes: AtlasProbe[] = [];
  for (const probe of result.probes) {
    const hit = await finder.find(probe.key, probeRecordSchema, (record) => plain([record.image, record.chart]));
    if (!hit) return undefined;
    found.push([probe.key, hit]);
    probes.push({ ...hit.record, id: probe.id, source: probe.source });
  }
  return { ...(dataset ? { dataset } : {}), ...(connections ? { connections } : {}), ...(probeModel ? { probeModel } : {}), probes, found };
}

export async function runMerge(input: MergeInput, deps: MergeDeps): Promise<MergeSummary[]> {
  const manifests = await findManifests(input.dirs, deps.log);
  const byAtlas = new Map<string, ManifestFile[]>();
  for (const entry of manifests) byAtlas.set(entry.manifest.atlas, [...(byAtlas.get(entry.manifest.atlas) ?? []), entry]);
  const version = await (deps.codeVersion ?? codeVersion)();
  // Every group is checked before anything is written: a refused merge leaves the output as it was.
  for (const entries of byAtlas.values()) checkSameBuild(entries, version);
  const summaries: MergeSummary[] = [];
  for (const entries of byAtlas.values()) {
    entries.sort((a, b) => a.manifest.shard.index - b.manifest.shard.index || a.manifest.shard.count - b.manifest.shard.count);
    summaries.push(await mergeAtlas(entries, input, deps));
  }
  return summaries;
}
