/**
 * A shard's manifest, `shards/<K>-of-<N>.json` in its atlas folder: everything `merge` needs besides
 * the records, so that merging needs neither the config file, nor the model, nor an engine. It
 * holds the build's identity (code version, weights, engine device, config digest), which `merge`
 * compares between shards; the atlas frame (assemble.ts); every unit of work with its record keys
 * and the assignment of units to shards; and, once this shard has run the dataset unit, the keys of
 * the scan, examples, connections, probe model and probes. It is written when the shard starts and again when it ends
 * (`finished`); `merge` trusts records, not this flag, so a killed shard's finished batches count.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { describeValue, userError } from '../errors.js';
import { atlasIdSchema, isReservedAtlasId, RESERVED_ATLAS_IDS } from '../config/schema.js';
import { frameSchema } from './assemble.js';
import { recordKeySchema } from './records.js';
import { formatShard, type ShardSpec } from './shard-spec.js';
import type { AtlasStore } from './store.js';

export const SHARD_MANIFEST_FORMAT = 1;
export const SHARDS_FOLDER = 'shards';

const index = z.number().int().nonnegative();

const unitSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('batch'), layer: z.string(), method: index, batch: index, filters: z.array(index).min(1), keys: z.array(recordKeySchema).min(1), cost: z.number() }),
  z.object({ kind: z.literal('dataset'), cost: z.number() }),
]);
export type ManifestUnit = z.infer<typeof unitSchema>;

const skippedSchema = z.object({ file: z.string(), reason: z.string() });

/** What the dataset unit left, recorded by the shard that ran it. */
const datasetResultSchema = z.object({
  dataset: z
    .object({
      name: z.string(),
      digest: z.string(),
      listingSkipped: z.array(skippedSchema),
      scanKey: recordKeySchema,
      /** Examples keys carry `labels: file-names` for such datasets (keys.ts). */
      labelsFromFileNames: z.boolean(),
      /** The listed images' names and classes: what the dominant labels need (labels/for-dataset.ts). */
      images: z.array(z.object({ file: z.string(), label: z.string().optional(), wnid: z.string().optional() })),
    })
    .optional(),
  /** The connections stage: its layer pairs, which images, and the record of each later-layer filter. */
  connections: z
    .object({
      pairs: z.array(z.object({ layer: z.string(), from: z.string() })),
      images: z.string(),
      keys: z.array(z.object({ layer: z.string(), filter: index, key: recordKeySchema })),
    })
    .optional(),
  /** The browser probe model's record. */
  probeModelKey: recordKeySchema.optional(),
  probes: z.array(z.object({ key: recordKeySchema, id: z.string(), source: z.string() })),
  /** Probes that could not run (non-finite activations): not missing, only absent. */
  skippedProbes: z.array(z.object({ source: z.string(), layer: z.string(), reason: z.string() })),
});
export type DatasetResult = z.infer<typeof datasetResultSchema>;

/**
 * A shard's manifest comes from a folder merge did not write (a CI artifact, a shared volume): every
 * name in it that becomes a path passes the rule build's own names pass. The atlas id (merge's folder
 * <output>/<atlas>) is a config's atlas id, reserved ids included, and the frame's id is the same; the
 * record keys (records/<key>.json) are keys as keys.ts makes them.
 */
export const shardManifestSchema = z.object({
  format: z.literal(SHARD_MANIFEST_FORMAT),
  atlas: atlasIdSchema.refine((id) => !isReservedAtlasId(id), `expected an atlas id other than ${RESERVED_ATLAS_IDS.map((id) => JSON.stringify(id)).join(', ')} (<output>/diffs holds the diffs)`),
  shard: z.object({ index: z.number().int().positive(), count: z.number().int().positive() }),
  codeVersion: z.string(),
  weightsDigest: z.string(),
  /** The engine device string of every key (provider, version, threads). */
  device: z.string(),
  /** sha256 of `config`. */
  configDigest: z.string(),
  /** The config as it decides the atlas, paths relative to the config file (shard-build.ts). */
  config: z.record(z.string(), z.unknown()),
  frame: frameSchema,
  units: z.array(unitSchema),
  /** Per unit, the shard (1-based) that computes it. */
  assignment: z.array(z.number().int().positive()),
  finished: z.boolean(),
  datasetResult: datasetResultSchema.optional(),
}).refine((manifest) => manifest.frame.id === manifest.atlas, { path: ['frame', 'id'], message: 'expected the atlas id of the manifest (`atlas`), as build writes it' });
export type ShardManifest = z.infer<typeof shardManifestSchema>;

/** A manifest and the file it was read from (errors name the file). */
export interface ManifestFile {
  file: string;
  /** The atlas folder that holds it. */
  dir: string;
  manifest: ShardManifest;
}

export function manifestName(shard: ShardSpec): string {
  return `${SHARDS_FOLDER}/${shard.index}-of-${shard.count}.json`;
}

export async function writeManifest(store: AtlasStore, manifest: ShardManifest): Promise<void> {
  await store.writeFile(manifestName(manifest.shard), JSON.stringify(shardManifestSchema.parse(manifest)) + '\n');
}

/** The manifests of an atlas folder, by shard; a file that is not a valid manifest is an error naming it. */
export async function readManifests(atlasDir: string): Promise<ManifestFile[]> {
  const folder = join(atlasDir, SHARDS_FOLDER);
  const names = (await readdir(folder).catch(() => [] as string[])).filter((name) => /^\d+-of-\d+\.json$/.test(name));
  const found: ManifestFile[] = [];
  for (const name of names) {
    const file = join(folder, name);
    let parsed: z.ZodSafeParseResult<ShardManifest>;
    let json: unknown;
    try {
      json = JSON.parse(await readFile(file, 'utf8'));
      parsed = shardManifestSchema.safeParse(json);
    } catch (error) {
      throw userError({ where: file, expected: 'a shard manifest (JSON)', received: (error as Error).message, fix: 'Rebuild this shard: `filter-atlas build <config> --shard K/N`.' }, error);
    }
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw userError({
        where: file,
        expected: `a shard manifest of format ${SHARD_MANIFEST_FORMAT}`,
        received: `${issue?.path.join('.') || 'root'}: ${issue?.message}${issue ? `, received ${describeValue(valueAt(json, issue.path))}` : ''}`,
        fix: 'Rebuild this shard with this version of filter-atlas, or leave its folder out of the merge (its work is then reported missing).',
      });
    }
    found.push({ file, dir: atlasDir, manifest: parsed.data });
  }
  return found.sort((a, b) => a.manifest.shard.index - b.manifest.shard.index || a.manifest.shard.count - b.manifest.shard.count);
}

/** The value at a zod issue's path, for its message. */
function valueAt(value: unknown, path: readonly PropertyKey[]): unknown {
  let at = value;
  for (const key of path) at = at !== null && typeof at === 'object' ? (at as Record<PropertyKey, unknown>)[key] : undefined;
  return at;
}

/** What makes shards parts of one build. */
export type BuildIdentity = Pick<ShardManifest, 'codeVersion' | 'weightsDigest' | 'device' | 'configDigest'>;

function sameBuild(a: BuildIdentity, b: BuildIdentity): boolean {
  return a.codeVersion === b.codeVersion && a.weightsDigest === b.weightsDigest && a.device === b.device && a.configDigest === b.configDigest;
}

/**
 * Removes the manifests of another build (other code, weights, device or config) from an atlas
 * folder, so that a folder reused night after night holds the manifests of one build. Manifests
 * of the same build with another shard count stay: their records are as good as this run's.
 */
export async function removeStaleManifests(atlasDir: string, identity: BuildIdentity): Promise<number> {
  let removed = 0;
  for (const entry of await readManifests(atlasDir).catch(() => [])) {
    if (sameBuild(entry.manifest, identity)) continue;
    await rm(entry.file, { force: true });
    removed += 1;
  }
  return removed;
}

const short = (digest: string) => digest.slice(0, 12);
const label = (entry: ManifestFile) => `shard ${formatShard(entry.manifest.shard)} (${entry.file})`;

/** Top-level config fields whose values differ. */
function configDifferences(a: Record<string, unknown>, b: Record<string, unknown>): string[] {
  return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((key) => JSON.stringify(a[key]) !== JSON.stringify(b[key]));
}

function unitsDigest(manifest: ShardManifest): string {
  return JSON.stringify(manifest.units.map((unit) => (unit.kind === 'batch' ? [unit.layer, unit.batch, unit.filters, unit.keys] : ['dataset'])));
}

/**
 * Refuses to merge shards (of one atlas id) of different builds, with the first difference found, in the order that
 * explains it best: code, weights, engine device, config, units of work. `codeVersion` is this
 * process's own: it assembles the atlas, so it must be the code that built the shards.
 */
export function checkSameBuild(entries: readonly ManifestFile[], codeVersion: string): void {
  const [first] = entries;
  const rebuild = (entry: ManifestFile) => `Rebuild shard ${formatShard(entry.manifest.shard)} the way the others were built (finished records whose keys did not change are reused), or leave its folder out.`;
  for (const entry of entries) {
    const { manifest } = entry;
    if (manifest.codeVersion !== codeVersion) {
      throw userError({
        where: label(entry),
        expected: `a shard built by this filter-atlas (code version ${codeVersion}), since merge assembles the atlas with its own code`,
        received: `one built by code version ${manifest.codeVersion}`,
        fix: 'Run merge from the checkout or container image that built the shards, or rebuild the shards with this one (unchanged records are reused).',
      });
    }
    if (manifest.weightsDigest !== first.manifest.weightsDigest) {
      throw userError({
        where: label(entry),
        expected: `the model weights of ${label(first)}: sha256 ${short(first.manifest.weightsDigest)}...`,
        received: `other weights: sha256 ${short(manifest.weightsDigest)}... (pictures of two models cannot form one atlas)`,
        fix: rebuild(entry),
      });
    }
    if (manifest.device !== first.manifest.device) {
      throw userError({
        where: label(entry),
        expected: `the engine device of ${label(first)}: "${first.manifest.device}"`,
        received: `"${manifest.device}" (pictures depend on the engine, its version and its thread count, and every record key holds them)`,
        fix: `${rebuild(entry)} Give every shard the same --threads (or threads: in the config).`,
      });
    }
    if (manifest.configDigest !== first.manifest.configDigest) {
      throw userError({
        where: label(entry),
        expected: `the config of ${label(first)}`,
        received: `a config that differs in ${configDifferences(first.manifest.config, manifest.config).join(', ') || 'its details'}`,
        fix: rebuild(entry),
      });
    }
    if (unitsDigest(manifest) !== unitsDigest(first.manifest)) {
      throw userError({
        where: label(entry),
        expected: `the units of work of ${label(first)} (batches and record keys)`,
        received: 'other units, from the same config, weights, engine and code',
        fix: 'This should not happen; rebuild every shard from the same checkout and config, and report it.',
      });
    }
  }
}
