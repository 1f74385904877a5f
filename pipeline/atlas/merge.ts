/**
 * `filter-atlas merge <shard folders...> --output DIR`: the atlas of a sharded build, from the
 * folders its shards wrote, with no coordination between them. Per atlas id found:
 * 1. the shards must be of one build (shard-manifest.ts checkSameBuild: code, weights, engine
 *    device, config), else nothing is written;
 * 2. the records of every unit of work are gathered as build gathers them (assembly-inputs.ts), each
 *    looked up in every folder (the output's own first) and read as hostile input (shard-files.ts:
 *    names, links and files checked, a damaged copy skipped); the records taken, a batch whole or
 *    not at all like build, are linked or copied into the output with their files;
 * 3. atlas.json is assembled as build assembles it (assemble.ts), `complete: false` with a
 *    `missing` list (filters, dataset, probes, the shards to rerun) when anything is missing.
 * Shards may also have written into one shared folder, which may be the output: then nothing moves.
 */
import { readdir, realpath, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { userError } from '../errors.js';
import { insideFolder } from '../util/paths.js';
import { atlasSchema, type AtlasMissing } from '../schema/atlas.js';
import { assembleAtlas, type AtlasContent } from './assemble.js';
import { gatherAssembly } from './assembly-inputs.js';
import { codeVersion } from './code-version.js';
import { checkSameBuild, readManifests, type ManifestFile, type ShardManifest } from './shard-manifest.js';
import { Finder, placeFound, type Source } from './shard-files.js';
import { formatShard } from './shard-spec.js';
import { countPictures, type AtlasCounts } from './counts.js';
import { judgeLayers } from './dead-in-layer.js';
import { AtlasStore } from './store.js';
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
  /** assembly-inputs.ts gatherAssembly; tests may pass one that records what it gathers. */
  gather?: typeof gatherAssembly;
}

export interface MergeSummary {
  atlas: string;
  atlasDir: string;
  complete: boolean;
  missing?: AtlasMissing;
  /** The shard manifests merged, as "K/N", and the folders they came from. */
  shards: string[];
  folders: string[];
  /** Filters in the atlas: distinct (layer, filter) pairs with a picture, whatever the number of methods (counts.filters.total). */
  filters: number;
  /** Filters by status and pictures by method, as the atlas written holds them (counts.ts). */
  counts: AtlasCounts;
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

async function mergeAtlas(entries: ManifestFile[], input: MergeInput, deps: MergeDeps): Promise<MergeSummary> {
  const started = performance.now();
  const first = entries[0].manifest;
  const output = resolve(input.output);
  // The manifest's id passed the atlas id rule; the folder is checked to stay inside the output anyway.
  if (insideFolder(output, first.atlas) !== first.atlas) throw userError({ where: entries[0].file, expected: 'an atlas id that names a folder inside the output', received: JSON.stringify(first.atlas) });
  const dest = new AtlasStore(join(output, first.atlas));
  await dest.removeLitter();
  const destReal = await realpath(dest.dir).catch(() => resolve(dest.dir));
  // The output first (a rerun of merge moves nothing), then the shard folders in shard order.
  const sources: Source[] = [{ store: dest, real: destReal }];
  for (const entry of entries) {
    const real = await realpath(entry.dir);
    if (!sources.some((s) => s.real === real)) sources.push({ store: new AtlasStore(real), real });
  }
  const finder = new Finder(sources);
  // Everything is gathered and checked before anything is placed: a refused shard leaves the output as it was.
  const gathered = await (deps.gather ?? gatherAssembly)(first.frame.layers, { units: first.units, ...(datasetResult(entries) ? { dataset: datasetResult(entries) } : {}) }, finder);
  const placed = new Set<string>();
  for (const key of gathered.taken) {
    const found = finder.found(key);
    if (found && found.source.real !== destReal) await placeFound(found, dest, placed, input.signal);
  }
  const { filters, web } = gathered.content;
  // A shard killed between its batch and the batch's web images: they are made from the PNG alone
  // (no model, no engine), the same bytes the shard would have written.
  const made = await runWebImages({ store: dest, records: gathered.withoutWeb, signal: input.signal });
  for (const [key, images] of made.images) web.set(key, images);

  const missingUnits = new Set(gathered.missingUnits);
  const missingFilters = new Map<string, Set<number>>();
  for (const u of missingUnits) {
    const unit = first.units[u];
    if (unit.kind !== 'batch') continue;
    const missing = missingFilters.get(unit.layer) ?? new Set<number>();
    for (const filter of unit.filters) missing.add(filter);
    missingFilters.set(unit.layer, missing);
  }
  const datasetMissing = first.units.some((unit, u) => unit.kind === 'dataset' && missingUnits.has(u));
  const config = first.config as { dataset?: unknown; probes?: Array<{ image: string; layer: string }> };
  const missing: AtlasMissing | undefined =
    missingUnits.size === 0
      ? undefined
      : {
          filters: first.frame.layers.filter((layer) => missingFilters.has(layer.name)).map((layer) => ({ layer: layer.name, filters: [...missingFilters.get(layer.name)!].sort((a, b) => a - b) })),
          dataset: datasetMissing && config.dataset !== null && config.dataset !== undefined,
          probes: datasetMissing ? (config.probes ?? []).map((probe) => `${probe.image} at ${probe.layer}`) : [],
          shards: shardsToRerun(first, missingUnits),
        };
  const content: AtlasContent = { createdAt: deps.now().toISOString(), complete: missing === undefined, ...(missing ? { missing } : {}), ...gathered.content };
  // A merge that changes nothing keeps the date of the atlas it would rewrite, and writes nothing.
  const previous = await dest.readAtlas();
  if (previous) {
    const again = atlasSchema.parse(assembleAtlas(first.frame, { ...content, createdAt: previous.createdAt }));
    if (JSON.stringify(again) === JSON.stringify(previous)) content.createdAt = previous.createdAt;
  }
  await dest.writeAtlas(assembleAtlas(first.frame, content));

  if (made.computed > 0) deps.log(`merge: made the web images of ${made.computed} picture(s) whose shard stopped before it wrote them`);
  for (const problem of finder.problems.slice(0, 20)) deps.log(`merge: skipped a damaged copy: ${problem}`);
  if (finder.problems.length > 20) deps.log(`merge: (and ${finder.problems.length - 20} more damaged copies)`);
  const counts = countPictures(first.frame.layers, judgeLayers(filters));
  return {
    atlas: first.atlas,
    atlasDir: dest.dir,
    complete: missing === undefined,
    ...(missing ? { missing } : {}),
    shards: entries.map((entry) => formatShard(entry.manifest.shard)),
    folders: [...new Set(entries.map((entry) => entry.dir))],
    filters: counts.filters.total,
    counts,
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

/** What the dataset unit left, from the shard that ran it. */
function datasetResult(entries: readonly ManifestFile[]): ShardManifest['datasetResult'] {
  return entries.find((entry) => entry.manifest.datasetResult)?.manifest.datasetResult;
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
