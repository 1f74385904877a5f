/**
 * Makes one asset present and verified in the cache. Files recorded in the asset's stamp with
 * the same identity (size, mtime, ctime, inode: cache.ts) are reused without hashing; files present
 * but unstamped, or changed since, are hashed (a lost stamp costs time, never correctness); a file
 * whose hash is wrong is removed and, with the missing ones, fetched in parallel. `verify` hashes
 * every file whatever the stamp says (`filter-atlas fetch`).
 * Everything here takes its folders and manifests as arguments so tests use temp folders.
 */
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import PQueue from 'p-queue';
import { userError } from '../errors.js';
import type { AssetFile, AssetManifest } from './manifest.js';
import { assetDir, partialDir, readStamp, removeStalePartials, sha256OfFile, stampMatches, statOrUndefined, writeStamp, type Stamp } from './cache.js';
import { checkMirror, describeMirror, locate, type Mirror } from './sources.js';
import { fetchFile } from './download.js';
import { startProgress } from './progress.js';
import type { Writable } from 'node:stream';

export interface AssetStore {
  cacheDir: string;
  mirror: Mirror | undefined;
  manifests: ReadonlyMap<string, AssetManifest>;
  /** Parallel transfers; default 8 over http, 4 from a folder. */
  concurrency?: number;
  /** Where progress goes (default process.stderr). */
  progressStream?: Writable & { isTTY?: boolean };
}

export interface EnsureOptions {
  signal?: AbortSignal;
  /** Show progress on stderr when something must be fetched (default true). */
  progress?: boolean;
  /** Hash every cached file, even those the stamp vouches for, and fetch again any that differs. */
  verify?: boolean;
}

export function manifestOf(store: AssetStore, name: string): AssetManifest {
  const manifest = store.manifests.get(name);
  if (!manifest) {
    throw userError({ where: 'asset name', expected: `one of ${[...store.manifests.keys()].join(', ')}`, received: JSON.stringify(name) });
  }
  return manifest;
}

/** Splits the asset's files into already verified ones (stamp updated) and ones to fetch. */
async function checkCache(dir: string, manifest: AssetManifest, stamp: Stamp, signal: AbortSignal, verify: boolean): Promise<AssetFile[]> {
  const missing: AssetFile[] = [];
  for (const file of manifest.files) {
    signal.throwIfAborted();
    const path = join(dir, file.path);
    const info = await statOrUndefined(path);
    if (!info) {
      missing.push(file);
      continue;
    }
    if (!verify && stampMatches(stamp.files[file.path], file, info)) continue;
    const sizeOk = file.bytes === undefined || file.bytes === info.size;
    const sha256 = sizeOk ? await sha256OfFile(path, signal) : undefined;
    if (sha256 === file.sha256) {
      stamp.files[file.path] = { ...info, sha256 };
    } else {
      // Changed, truncated or from another version: never used, fetched again.
      await rm(path, { force: true });
      delete stamp.files[file.path];
      missing.push(file);
    }
  }
  return missing;
}

/** Returns the absolute folder holding every file of the asset, all verified. */
export async function ensureAssetIn(store: AssetStore, name: string, options: EnsureOptions = {}): Promise<string> {
  const manifest = manifestOf(store, name);
  const signal = options.signal ?? new AbortController().signal;
  signal.throwIfAborted();
  const dir = assetDir(store.cacheDir, manifest.name);
  // Temporary files of killed runs go first (a live run's are kept).
  await removeStalePartials(store.cacheDir);
  const stamp = await readStamp(store.cacheDir, manifest.name);
  const before = JSON.stringify(stamp);
  const missing = await checkCache(dir, manifest, stamp, signal, options.verify ?? false);
  let failure: unknown;
  if (missing.length > 0) await fetchMissing(store, manifest, missing, stamp, signal, options.progress ?? true).catch((error: unknown) => (failure = error));
  // Even after a failure, keep the record of what was verified: a rerun resumes from there. The
  // fetch's own error comes first (a full disk fails the stamp too, and the download said so first).
  if (JSON.stringify(stamp) !== before) await writeStamp(store.cacheDir, manifest.name, stamp).catch((error: unknown) => (failure ??= error));
  if (failure !== undefined) throw failure;
  return dir;
}

async function fetchMissing(store: AssetStore, manifest: AssetManifest, missing: AssetFile[], stamp: Stamp, signal: AbortSignal, progress: boolean): Promise<void> {
  await checkMirror(store.mirror);
  const dir = assetDir(store.cacheDir, manifest.name);
  const bar = await startProgress({
    asset: manifest.name,
    files: missing.length,
    knownBytes: missing.reduce((sum, file) => sum + (file.bytes ?? 0), 0),
    source: describeMirror(store.mirror),
    enabled: progress,
    stream: store.progressStream,
  });
  // The first failure stops the files not yet started (one clear error, not a thousand);
  // transfers in flight finish and are kept, so a rerun has less to do.
  const queue = new PQueue({ concurrency: store.concurrency ?? (store.mirror?.kind === 'folder' ? 4 : 8) });
  let firstError: unknown;
  for (const file of missing) {
    void queue.add(async () => {
      if (firstError !== undefined) return;
      try {
        const fetched = await fetchFile({
          manifest,
          file,
          location: locate(manifest, file, store.mirror),
          destination: join(dir, file.path),
          tempDir: partialDir(store.cacheDir),
          signal,
          onBytes: (count) => bar.bytes(count),
          onLength: (length) => bar.addTotal(length),
        });
        stamp.files[file.path] = fetched;
        bar.fileDone();
      } catch (error) {
        firstError ??= signal.aborted ? signal.reason : error;
        queue.clear();
      }
    });
  }
  await queue.onIdle();
  bar.stop(firstError === undefined);
  if (firstError !== undefined) throw firstError;
}
