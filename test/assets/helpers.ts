/**
 * Test fixtures for the assets stage: temp cache folders, a tiny fake asset set, and a
 * loopback HTTP server whose behaviour each test chooses (serve, corrupt, drop, stall).
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize, resolve } from 'node:path';
import { Writable } from 'node:stream';
import type { AssetManifest } from '../../pipeline/assets/manifest.js';
import type { AssetStore } from '../../pipeline/assets/ensure.js';
import type { Mirror } from '../../pipeline/assets/sources.js';

/** The shared assets folder: FILTER_ATLAS_MIRROR (CI and vitest.config.ts set it), else ../shared/assets beside the repository. */
export const sharedMirror = resolve(process.env.FILTER_ATLAS_MIRROR?.trim() || join(import.meta.dirname, '../../../shared/assets'));

export function sha256(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export async function tempDir(prefix: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `filter-atlas-${prefix}-`));
}

/** Every file under a folder, relative paths, recursively (hidden bookkeeping folders included). */
export async function listFiles(root: string, under = ''): Promise<string[]> {
  const entries = await readdir(join(root, under), { withFileTypes: true }).catch(() => []);
  const out: string[] = [];
  for (const entry of entries) {
    const relative = under ? `${under}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...(await listFiles(root, relative)));
    else out.push(relative);
  }
  return out.sort();
}

/** Fake asset "toy": three small files, served under `toys/toy/` by the fake mirror. */
export const toyFiles: Record<string, string> = {
  'a.txt': 'alpha\n',
  'b.bin': 'b'.repeat(200_000),
  'sub/c.txt': 'gamma\n',
};

export function toyManifest(urlBase = 'http://127.0.0.1:9/upstream/'): AssetManifest {
  return {
    name: 'toy',
    kind: 'dataset',
    description: 'a fake asset for tests',
    license: 'none',
    mirrorPath: 'toys/toy/',
    files: Object.entries(toyFiles).map(([path, text]) => ({ path, sha256: sha256(text), bytes: Buffer.byteLength(text), url: `${urlBase}${path}` })),
  };
}

export function storeFor(cacheDir: string, mirror: Mirror | undefined, manifests: AssetManifest[]): AssetStore {
  return { cacheDir, mirror, manifests: new Map(manifests.map((m) => [m.name, m])), progressStream: quietStream() };
}

/** A sink for progress lines (keeps test output clean; `lines` can be inspected). */
export function quietStream(): Writable & { lines: string[] } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      lines.push(chunk.toString());
      callback();
    },
  });
  return Object.assign(stream, { lines });
}

export type Handler = (request: IncomingMessage, response: ServerResponse) => void;

export interface TestServer {
  base: string;
  /** Paths requested so far, in order. */
  requests: string[];
  /** Replace what the server does; the default serves toy files and the shared mirror. */
  handle(handler: Handler): void;
  close(): Promise<void>;
}

/** Serves `/toys/toy/<file>` from memory and `/<path>` from the shared mirror folder. */
export const serveMirror: Handler = (request, response) => {
  const path = decodeURIComponent(new URL(request.url ?? '/', 'http://x').pathname);
  const toy = /^\/(?:toys\/toy|upstream)\/(.+)$/.exec(path);
  if (toy) {
    const text = toyFiles[toy[1] as string];
    if (text === undefined) return notFound(response);
    response.writeHead(200, { 'content-length': Buffer.byteLength(text) });
    response.end(text);
    return;
  }
  const file = normalize(join(sharedMirror, path));
  if (!file.startsWith(`${sharedMirror}/`)) return notFound(response);
  stat(file).then(
    (info) => {
      if (!info.isFile()) return notFound(response);
      response.writeHead(200, { 'content-length': info.size });
      createReadStream(file).pipe(response);
    },
    () => notFound(response),
  );
};

export function notFound(response: ServerResponse): void {
  response.writeHead(404, { 'content-type': 'text/plain' });
  response.end('not found');
}

export async function startServer(): Promise<TestServer> {
  let handler: Handler = serveMirror;
  const requests: string[] = [];
  const server: Server = createServer((request, response) => {
    requests.push(decodeURIComponent(request.url ?? ''));
    handler(request, response);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    base: `http://127.0.0.1:${port}/`,
    requests,
    handle(next) {
      handler = next;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

export async function removeDir(path: string): Promise<void> {
  await rm(path, { recursive: true, force: true });
}
