/**
 * The asset cache on disk:
 *   <cache>/<asset>/<file>          verified files, exactly the asset's layout
 *   <cache>/.verified/<asset>.json  stamp: size + mtime + sha256 of each verified file
 *   <cache>/.partial/               downloads in progress (same file system, so rename is atomic)
 * Stamps and temporary files live outside the asset folder so that code listing an asset
 * folder (the dataset scanner) only ever sees asset files.
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import envPaths from 'env-paths';
import { z } from 'zod';
import { writeFileAtomic } from '../util/fs.js';
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

const stampSchema = z.object({
  version: z.literal(1),
  files: z.record(z.string(), z.object({ size: z.number(), mtimeMs: z.number(), sha256: z.string() })),
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
  return { version: 1, files: {} };
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

/** True when the file on disk is the one the stamp recorded as verified for this manifest entry. */
export function stampMatches(entry: StampEntry | undefined, file: AssetFile, size: number, mtimeMs: number): boolean {
  return entry !== undefined && entry.sha256 === file.sha256 && entry.size === size && entry.mtimeMs === mtimeMs;
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
      const info = statSync(join(dir, file.path));
      return stampMatches(stamp.files[file.path], file, info.size, info.mtimeMs);
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

/** The stat of a path, or undefined when it does not exist. */
export async function statOrUndefined(path: string): Promise<{ size: number; mtimeMs: number } | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? { size: info.size, mtimeMs: info.mtimeMs } : undefined;
  } catch {
    return undefined;
  }
}

/** Removes temporary downloads older than a day: left by a killed process (a live one renames or removes its own). */
export async function removeStalePartials(cacheDir: string, now = Date.now()): Promise<void> {
  const dir = partialDir(cacheDir);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    const info = await statOrUndefined(join(dir, name));
    if (info && now - info.mtimeMs > 24 * 3600 * 1000) await rm(join(dir, name), { force: true });
  }
}
