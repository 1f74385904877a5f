/**
 * Where an asset file comes from: the pinned upstream URL, or a mirror (a folder or an
 * http(s) base URL laid out like the shared assets folder) that replaces upstream entirely.
 * Opening a source yields a byte stream; every failure becomes a user error naming asset,
 * file and source.
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute, join, resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
import { fileURLToPath } from 'node:url';
import { userError, FilterAtlasError } from '../errors.js';
import type { AssetFile, AssetManifest } from './manifest.js';

export type Mirror = { kind: 'folder'; root: string } | { kind: 'http'; base: string };

/** A concrete place to read one file from; only upstream files may need a derivation (derive.ts). */
export type Location =
  | { kind: 'file'; path: string; label: string; upstream: false }
  | { kind: 'http'; url: string; label: string; upstream: boolean };

const mirrorFix =
  'Set FILTER_ATLAS_MIRROR to a folder or http(s) base URL laid out like the shared assets folder ' +
  '(models/<model>/, datasets/<dataset>/, photos/), or unset it to download from upstream.';

/** Parses FILTER_ATLAS_MIRROR (folder path, file:// URL or http(s) base URL); undefined when unset. */
export function parseMirror(value: string | undefined, cwd = process.cwd()): Mirror | undefined {
  const text = value?.trim();
  if (!text) return undefined;
  if (/^https?:\/\//i.test(text)) {
    try {
      const url = new URL(text);
      return { kind: 'http', base: url.href.endsWith('/') ? url.href : `${url.href}/` };
    } catch (error) {
      throw userError({ where: 'FILTER_ATLAS_MIRROR', expected: 'a valid http(s) URL', received: JSON.stringify(text), fix: mirrorFix }, error);
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) && !text.toLowerCase().startsWith('file://')) {
    throw userError({ where: 'FILTER_ATLAS_MIRROR', expected: 'a folder, a file:// URL or an http(s) URL', received: JSON.stringify(text), fix: mirrorFix });
  }
  const path = text.toLowerCase().startsWith('file://') ? fileURLToPath(text) : text;
  return { kind: 'folder', root: isAbsolute(path) ? path : resolve(cwd, path) };
}

export function describeMirror(mirror: Mirror | undefined): string {
  if (!mirror) return 'upstream';
  return mirror.kind === 'folder' ? `mirror folder ${mirror.root}` : `mirror ${mirror.base}`;
}

/** Checks once, before any copy, that a folder mirror exists: a clearer error than 1000 missing files. */
export async function checkMirror(mirror: Mirror | undefined): Promise<void> {
  if (mirror?.kind !== 'folder') return;
  const info = await stat(mirror.root).catch(() => undefined);
  if (!info?.isDirectory()) {
    throw userError({
      where: 'FILTER_ATLAS_MIRROR',
      expected: 'an existing folder',
      received: info ? `${mirror.root} (not a folder)` : `${mirror.root} (does not exist)`,
      fix: mirrorFix,
    });
  }
}

export function locate(manifest: AssetManifest, file: AssetFile, mirror: Mirror | undefined): Location {
  if (!mirror) return { kind: 'http', url: file.url, label: file.url, upstream: true };
  const relative = `${manifest.mirrorPath}${file.path}`;
  if (mirror.kind === 'folder') {
    const path = join(mirror.root, ...relative.split('/'));
    return { kind: 'file', path, label: `mirror folder file ${path}`, upstream: false };
  }
  const url = new URL(relative.split('/').map(encodeURIComponent).join('/'), mirror.base).href;
  return { kind: 'http', url, label: url, upstream: false };
}

/** A failure worth one more try: the network, not the content. */
export class TransientError extends FilterAtlasError {}

export interface OpenedSource {
  body: Readable;
  /** Content-Length when the server sent one. */
  length?: number;
}

function where(asset: string, file: AssetFile, location: Location): string {
  return `asset "${asset}", file "${file.path}" from ${location.label}`;
}

export function sourceError(asset: string, file: AssetFile, location: Location, received: string, fix: string, cause?: unknown, transient = false): FilterAtlasError {
  const parts = { where: where(asset, file, location), expected: 'a readable file', received, fix };
  const error = userError(parts, cause);
  return transient ? new TransientError(error.message, { cause }) : error;
}

export async function openLocation(asset: string, file: AssetFile, location: Location, signal: AbortSignal): Promise<OpenedSource> {
  signal.throwIfAborted();
  if (location.kind === 'file') {
    const info = await stat(location.path).catch(() => undefined);
    if (!info?.isFile()) {
      throw sourceError(asset, file, location, 'no such file', `The mirror folder lacks this file. ${mirrorFix}`);
    }
    return { body: createReadStream(location.path, { signal }), length: info.size };
  }
  let response: Response;
  try {
    response = await fetch(location.url, { signal, redirect: 'follow' });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    const reason = error instanceof Error ? (error.cause instanceof Error ? error.cause.message : error.message) : String(error);
    const fix = location.upstream
      ? 'Check the network connection and rerun. Without internet, set FILTER_ATLAS_MIRROR to a folder or http(s) URL that holds the asset files as models/<model>/, datasets/<dataset>/ and photos/ (README, Troubleshooting).'
      : 'Check that the mirror is reachable, or point FILTER_ATLAS_MIRROR at another folder or URL (unset it to download from upstream).';
    throw sourceError(asset, file, location, `a network error (${reason})`, fix, error, true);
  }
  if (!response.ok || !response.body) {
    void response.body?.cancel().catch(() => undefined);
    const status = `HTTP ${response.status}${response.statusText ? ` ${response.statusText}` : ''}`;
    const transient = response.status >= 500 || response.status === 429;
    const fix = transient
      ? 'The server had a temporary problem; rerun later.'
      : response.status === 404
        ? 'The file is not at this address: check FILTER_ATLAS_MIRROR, or report the moved upstream file.'
        : 'Check the address and your access to it.';
    throw sourceError(asset, file, location, status, fix, undefined, transient);
  }
  const header = response.headers.get('content-length');
  const length = header !== null && /^\d+$/.test(header) ? Number(header) : undefined;
  // undici's web stream and node:stream/web's are the same class at run time; only the typings differ.
  const body = Readable.fromWeb(response.body as unknown as NodeReadableStream<Uint8Array>);
  return { body, length };
}
