/**
 * Fetches one asset file into the cache: stream to a temporary file in <cache>/.partial while
 * hashing, check size and sha256, then rename into place. Whatever fails, the temporary file
 * is removed, so the cache only ever holds verified files.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { createHash, randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { FilterAtlasError, userError } from '../errors.js';
import type { AssetFile, AssetManifest } from './manifest.js';
import { derivation } from './derive.js';
import { statOrUndefined, type StampEntry } from './cache.js';
import { fileSystemError } from '../util/fs-errors.js';
import { openLocation, sourceError, TransientError, type Location } from './sources.js';

export interface FetchFileRequest {
  manifest: AssetManifest;
  file: AssetFile;
  location: Location;
  /** Final path inside the cache's asset folder. */
  destination: string;
  /** Folder for the temporary file (same file system as destination). */
  tempDir: string;
  signal: AbortSignal;
  /** Called with each chunk's size (negative: bytes of a failed attempt taken back), for progress. */
  onBytes?: (bytes: number) => void;
  /** Called with the announced length of a file whose size is not pinned. */
  onLength?: (bytes: number) => void;
}

/** What was written, for the cache stamp (cache.ts: the identity of the file in place, and its hash). */
export type FetchedFile = StampEntry;

/** Passes bytes through while hashing and counting them. */
class HashingCounter extends Transform {
  readonly hash = createHash('sha256');
  bytes = 0;
  constructor(private readonly onBytes?: (bytes: number) => void) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.bytes += chunk.length;
    this.onBytes?.(chunk.length);
    callback(null, chunk);
  }
}

function isAbortError(error: unknown, signal: AbortSignal): boolean {
  return signal.aborted || (error instanceof Error && error.name === 'AbortError');
}

/** Errors of writing the temporary file (disk full, read-only, forbidden) rather than of reading the source. */
function isLocalWriteError(error: unknown, temporary: string): boolean {
  const { code, path } = error as NodeJS.ErrnoException;
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  return (code === 'EROFS' || code === 'EACCES' || code === 'EPERM') && (path === undefined || path === temporary);
}

/** Streams the source into `temporary` and checks it; returns its sha256. */
async function attempt(request: FetchFileRequest, temporary: string, counter: HashingCounter, firstTry: boolean): Promise<string> {
  const { manifest, file, location, signal } = request;
  const asset = manifest.name;
  const opened = await openLocation(asset, file, location, signal);
  const derived = location.upstream ? derivation(manifest, file) : undefined;
  if (firstTry && file.bytes === undefined && opened.length !== undefined && !derived) request.onLength?.(opened.length);
  const stages: Array<NodeJS.ReadableStream | NodeJS.ReadWriteStream | NodeJS.WritableStream> = [opened.body];
  if (derived) stages.push(derived);
  try {
    stages.push(counter, createWriteStream(temporary));
    await pipeline(stages, { signal });
  } catch (error) {
    if (isAbortError(error, signal)) throw signal.reason ?? error;
    if (error instanceof FilterAtlasError) throw error;
    // A local write failure (disk full, read-only, permissions) is not a source problem: say so.
    if (isLocalWriteError(error, temporary)) throw await fileSystemError(error, temporary);
    const reason = error instanceof Error ? error.message : String(error);
    const expected = file.bytes !== undefined ? `${file.bytes} bytes` : 'the whole file';
    throw sourceError(asset, file, location, `the transfer broke after ${counter.bytes} bytes of ${expected} (${reason})`, 'The connection dropped; rerun the command to retry.', error, location.kind === 'http');
  }
  if (!derived && file.bytes !== undefined && counter.bytes < file.bytes && location.kind === 'http') {
    // A server that closes early without a Content-Length looks like a short, complete body.
    throw sourceError(asset, file, location, `only ${counter.bytes} of ${file.bytes} bytes (the transfer ended early)`, 'The connection dropped; rerun the command to retry.', undefined, true);
  }
  const sha256 = counter.hash.digest('hex');
  const sizeWrong = file.bytes !== undefined && counter.bytes !== file.bytes;
  if (sizeWrong || sha256 !== file.sha256) {
    throw userError({
      where: `asset "${asset}", file "${file.path}" from ${location.label}`,
      expected: `sha256 ${file.sha256}${file.bytes !== undefined ? ` (${file.bytes} bytes)` : ''}`,
      received: `sha256 ${sha256} (${counter.bytes} bytes)`,
      fix: 'The source holds a different file than the pinned one, so nothing was kept. Check the mirror, or report the changed upstream file.',
    });
  }
  return sha256;
}

/** Downloads or copies one file into the cache, verified; one retry on network errors. */
export async function fetchFile(request: FetchFileRequest): Promise<FetchedFile> {
  for (const folder of [request.tempDir, dirname(request.destination)]) {
    await mkdir(folder, { recursive: true }).catch(async (error: unknown) => {
      throw await fileSystemError(error, folder);
    });
  }
  const flatName = `${request.manifest.name}__${request.file.path.replaceAll('/', '__')}`;
  for (let tryNumber = 1; ; tryNumber += 1) {
    const temporary = join(request.tempDir, `${flatName}.${process.pid}.${randomBytes(4).toString('hex')}.partial`);
    const counter = new HashingCounter(request.onBytes);
    try {
      const sha256 = await attempt(request, temporary, counter, tryNumber === 1);
      await rename(temporary, request.destination).catch(async (error: unknown) => {
        throw await fileSystemError(error, request.destination);
      });
      // After the rename: it changes the ctime, and the stamp records the file as it now sits in place.
      const info = await statOrUndefined(request.destination);
      if (!info) throw new Error(`${request.destination} vanished right after it was renamed into place`);
      return { ...info, sha256 };
    } catch (error) {
      await rm(temporary, { force: true });
      request.onBytes?.(-counter.bytes);
      if (!(error instanceof TransientError) || tryNumber >= 2 || request.signal.aborted) throw error;
    }
  }
}
