/**
 * The asset cache on disk:
 *   <cache>/<asset>/<file>          verified files, exactly the asset's layout
 *   <cache>/.verified/<asset>.json  stamp: sha256 of each verified file and the stat that identifies it
 *   <cache>/.partial/               downloads in progress (same file system, so rename is atomic)
 * Stamps and temporary files live outside the asset folder so that code listing an asset
 * folder (the dataset scanner) only ever sees asset files.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { readFile, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { z } from 'zod';
import { writeFileAtomic } from '../util/fs.js';
import { removeLitter } from '../util/litter.js';
import type { AssetFile, AssetManifest } from './manifest.js';

/** FILTER_ATLAS_CACHE, else the platform's user cache folder (e.g. ~/.cache/filter-atlas on Linux). */
export function resolveCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.FILTER_ATLAS_CACHE?.trim();
  return configured ? join(configured) : envPaths('filter-atlas', { suffix: '' }).cache;
}

export function assetDir(cacheDir: string, asset: string): string {
  return join(cacheDir, asset);
}

export function partialDir(cacheDir: string): string {
  return join(cacheDir, '.partial');
}

function stampPath(cacheDir: string, asset: string): string {
  return join(cacheDir, '.verified', `${asset}.json`);
}

/**
 * What identifies a verified file without hashing it again. Size and mtime alone are not enough: a
 * flipped byte with its mtime restored (touch -r, a backup tool) keeps both. The inode change time
 * cannot be set back by any file operation, and the inode number changes when the file is replaced,
 * so a file whose ctime and inode match the stamp has not been written since it was verified.
 */
const stampEntrySchema = z.object({ size: z.number(), mtimeMs: z.number(), ctimeMs: z.number(), ino: z.number(), sha256: z.string() });

const stampSchema = z.object({
  version: z.literal(2),
  files: z.record(z.string(), stampEntrySchema),
});
export type Stamp = z.infer<typeof stampSchema>;
export type StampEntry = Stamp['files'][string];

function parseStamp(text: string): Stamp {
  // A damaged stamp only costs a re-hash, never a wrong answer: treat it as empty.
  try {
    const parsed = stampSchema.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : emptyStamp();
  } catch {
    return emptyStamp();
  }
}

export function emptyStamp(): Stamp {
  return { version: 2, files: {} };
}

export async function readStamp(cacheDir: string, asset: string): Promise<Stamp> {
  try {
    return parseStamp(await readFile(stampPath(cacheDir, asset), 'utf8'));
  } catch {
    return emptyStamp();
  }
}

export async function writeStamp(cacheDir: string, asset: string, stamp: Stamp): Promise<void> {
  await writeFileAtomic(stampPath(cacheDir, asset), JSON.stringify(stamp) + '\n');
}

/** The stat fields a stamp records (see stampEntrySchema). */
export type FileIdentity = Omit<StampEntry, 'sha256'>;

/** True when the file on disk is the one the stamp recorded as verified for this manifest entry. */
export function stampMatches(entry: StampEntry | undefined, file: AssetFile, info: FileIdentity): boolean {
  return (
    entry !== undefined &&
    entry.sha256 === file.sha256 &&
    entry.size === info.size &&
    entry.mtimeMs === info.mtimeMs &&
    entry.ctimeMs === info.ctimeMs &&
    entry.ino === info.ino
  );
}

function identity(info: { size: number; mtimeMs: number; ctimeMs: number; ino: number }): FileIdentity {
  return { size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino };
}

/** Synchronous check used by `describeAssets`: every file present and stamped, nothing hashed. */
export function isCachedSync(cacheDir: string, manifest: AssetManifest): boolean {
  let stamp: Stamp;
  try {
    stamp = parseStamp(readFileSync(stampPath(cacheDir, manifest.name), 'utf8'));
  } catch {
    return false;
  }
  const dir = assetDir(cacheDir, manifest.name);
  return manifest.files.every((file) => {
    try {
      return stampMatches(stamp.files[file.path], file, identity(statSync(join(dir, file.path))));
    } catch {
      return false;
    }
  });
}

export async function sha256OfFile(path: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { signal })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** The identity of a regular file, or undefined when there is none at the path. */
export async function statOrUndefined(path: string): Promise<FileIdentity | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? identity(info) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes temporary files of killed processes: downloads in .partial/ and stamps being written in
 * .verified/ (util/litter.ts: the writer is gone, or the file is a day old). A live process's are kept.
 */
export async function removeStalePartials(cacheDir: string, now = Date.now()): Promise<void> {
  await removeLitter(partialDir(cacheDir), now);
  await removeLitter(join(cacheDir, '.verified'), now);
}
