#!/usr/bin/env node
// The nightly's versions of an atlas, one rule for the GitHub Actions workflow and the Kubernetes
// CronJob. Each night builds the atlas under its own id, `<atlas>.<YYYYMMDD-HHMM>` (UTC: ids sort
// by time), so the last N nights are N atlases side by side in the output folder, which `diff` and
// `history` compare and the site publishes. Commands:
//
//   node deploy/nightly-versions.mjs stamp
//       prints tonight's stamp (YYYYMMDD-HHMM, UTC).
//   node deploy/nightly-versions.mjs title <atlas> <stamp>
//       prints the version's title, `<atlas>, YYYY-MM-DD HH:MM UTC` (build --title): the versions of
//       one config would otherwise all carry its one title on the site.
//   node deploy/nightly-versions.mjs adopt <shard-output> <atlas> <version-id>
//       in a shard's folder, renames the newest earlier version of <atlas> to <version-id>, so the
//       shard reuses last night's records (every record is content-keyed: unchanged work is not
//       redone) and the folder keeps one version, not one per night; older leftovers are removed.
//   node deploy/nightly-versions.mjs clear-store <shard-output>
//       empties a shard's model store (<shard-output>/model-store) before tonight's builds: each build
//       keeps its weights there again for merge to gather, and last nights' weights do not pile up.
//   node deploy/nightly-versions.mjs prune <output> <atlas> <keep>
//       keeps the newest <keep> complete versions of <atlas> in <output> and removes the others
//       (older ones, and incomplete ones of failed nights), the diffs of removed versions, and the
//       model store's weights (<output>/model-store/<sha256>.<ext>, or the folder <sha256>/ of a
//       TensorFlow.js model) that no atlas left there was built with. Prints the kept atlas folders, oldest first, one a line: `history`'s arguments.
import { realpathSync } from 'node:fs';
import { readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The folder of the diffs and of the model store inside an output folder (filter-atlas's own names). */
const DIFFS = 'diffs';
const MODEL_STORE = 'model-store';
/** A stored model: its weights' sha256 (hex), then its file extension (none: a TensorFlow.js folder). */
const STORED_MODEL = /^([0-9a-f]{64})(\.[A-Za-z0-9.]+)?$/;
const ATLAS_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** Tonight's stamp, YYYYMMDD-HHMM in UTC: fixed width, so ids sort by time. */
export function versionStamp(date = new Date()) {
  const iso = date.toISOString();
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}-${iso.slice(11, 13)}${iso.slice(14, 16)}`;
}

/** The id of one night's atlas. */
export function versionId(atlas, stamp) {
  checkAtlasId(atlas);
  if (!/^\d{8}-\d{4}$/.test(stamp)) throw new Error(`version stamp: expected YYYYMMDD-HHMM, received ${JSON.stringify(stamp)}`);
  return `${atlas}.${stamp}`;
}

/** The title of one night's atlas: the versions are told apart by their night. */
export function versionTitle(atlas, stamp) {
  versionId(atlas, stamp);
  return `${atlas}, ${stamp.slice(0, 4)}-${stamp.slice(4, 6)}-${stamp.slice(6, 8)} ${stamp.slice(9, 11)}:${stamp.slice(11, 13)} UTC`;
}

function checkAtlasId(atlas) {
  if (!ATLAS_ID.test(atlas ?? '')) throw new Error(`atlas id: expected letters, digits, ".", "_" or "-", received ${JSON.stringify(atlas)}`);
}

const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The version folders of `atlas` in `dir` (names only, oldest first); [] when `dir` does not exist. */
export async function versionsIn(dir, atlas) {
  checkAtlasId(atlas);
  const pattern = new RegExp(`^${escape(atlas)}\\.\\d{8}-\\d{4}$`);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (error) {
    if (error.code === 'ENOENT') return [];
    throw error;
  }
  return entries
    .filter((e) => e.isDirectory() && pattern.test(e.name))
    .map((e) => e.name)
    .sort();
}

/**
 * Before a shard builds `version`: the newest earlier version folder of the atlas in the shard's
 * output folder becomes `version`'s folder (kept records are reused), the others are removed.
 * Returns the folder adopted, or undefined when there was none (or `version` is already there).
 */
export async function adopt(shardDir, atlas, version) {
  const versions = (await versionsIn(shardDir, atlas)).filter((v) => v !== version);
  const hasTarget = await stat(join(shardDir, version)).then(
    () => true,
    () => false,
  );
  const newest = hasTarget ? undefined : versions.pop();
  if (newest !== undefined) await rename(join(shardDir, newest), join(shardDir, version));
  for (const old of versions) await rm(join(shardDir, old), { recursive: true, force: true });
  return newest;
}

/** Removes a shard's model store (`<shardDir>/model-store`): tonight's builds write their weights again. */
export async function clearStore(shardDir) {
  await rm(join(shardDir, MODEL_STORE), { recursive: true, force: true });
}

/** atlas.json of an atlas folder, or undefined when there is none or it does not parse. */
async function readAtlas(dir) {
  try {
    return JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8'));
  } catch {
    return undefined;
  }
}

/**
 * Keeps the newest `keep` complete versions of `atlas` in `outputDir`; removes the other versions,
 * the diffs with a removed version on either side, and stored weights no remaining atlas was built
 * with. Returns the kept version names, oldest first.
 */
export async function prune(outputDir, atlas, keep) {
  if (!Number.isInteger(keep) || keep < 1) throw new Error(`keep: expected a whole number of versions, 1 or more, received ${JSON.stringify(keep)}`);
  const versions = await versionsIn(outputDir, atlas);
  const complete = [];
  for (const v of versions) if ((await readAtlas(join(outputDir, v)))?.complete === true) complete.push(v);
  const kept = complete.slice(-keep);
  const removed = versions.filter((v) => !kept.includes(v));
  for (const v of removed) await rm(join(outputDir, v), { recursive: true, force: true });

  const diffs = await readdir(join(outputDir, DIFFS)).catch(() => []);
  for (const name of diffs) {
    if (name.split('__').some((side) => removed.includes(side))) await rm(join(outputDir, DIFFS, name), { recursive: true, force: true });
  }

  // Weights are stored once per digest for every atlas of the output folder: keep those any atlas
  // left there (of this nightly or another) was built with.
  const digests = new Set();
  for (const entry of await readdir(outputDir, { withFileTypes: true })) {
    if (!entry.isDirectory()) continue;
    const digest = (await readAtlas(join(outputDir, entry.name)))?.model?.weightsDigest;
    if (typeof digest === 'string') digests.add(digest.replace(/^sha256:/, ''));
  }
  const stored = await readdir(join(outputDir, MODEL_STORE)).catch(() => []);
  for (const name of stored) {
    const digest = STORED_MODEL.exec(name)?.[1];
    if (digest !== undefined && !digests.has(digest)) await rm(join(outputDir, MODEL_STORE, name), { recursive: true, force: true });
  }
  return kept;
}

async function main(args) {
  const [command, ...rest] = args;
  if (command === 'stamp' && rest.length === 0) {
    process.stdout.write(`${versionStamp()}\n`);
  } else if (command === 'title' && rest.length === 2) {
    process.stdout.write(`${versionTitle(rest[0], rest[1])}\n`);
  } else if (command === 'adopt' && rest.length === 3) {
    const [shardDir, atlas, version] = rest;
    const adopted = await adopt(shardDir, atlas, version);
    process.stderr.write(adopted ? `${join(shardDir, adopted)} -> ${join(shardDir, version)}\n` : `no earlier version of ${atlas} in ${shardDir}\n`);
  } else if (command === 'clear-store' && rest.length === 1) {
    await clearStore(rest[0]);
  } else if (command === 'prune' && rest.length === 3) {
    const [outputDir, atlas, keep] = rest;
    const kept = await prune(outputDir, atlas, /^\d+$/.test(keep) ? Number(keep) : Number.NaN);
    for (const v of kept) process.stdout.write(`${join(outputDir, v)}\n`);
  } else {
    throw new Error('usage: nightly-versions.mjs stamp | title <atlas> <stamp> | adopt <shard-output> <atlas> <version-id> | clear-store <shard-output> | prune <output> <atlas> <keep>');
  }
}

// Run as a script (also through a symlinked folder: Node runs the real file).
if (process.argv[1] && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).catch((error) => {
    process.stderr.write(`nightly-versions: ${error.message}\n`);
    process.exit(1);
  });
}
