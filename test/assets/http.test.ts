/**
 * Downloads over HTTP from a loopback server: success and verification, cache reuse without
 * requests, and every failure (checksum, dropped connection, 404, abort) leaving no file behind.
 */
import { spawnSync } from 'node:child_process';
import { mkdir, open, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { isCachedSync, readStamp, writeStamp } from '../../pipeline/assets/cache.js';
import { ensureAssetIn } from '../../pipeline/assets/ensure.js';
import { builtinManifests } from '../../pipeline/assets/manifest.js';
import { parseMirror } from '../../pipeline/assets/sources.js';
import { describeAssetsIn } from '../../pipeline/assets/index.js';
import { FilterAtlasError } from '../../pipeline/errors.js';
import { listFiles, removeDir, serveMirror, sha256, startServer, storeFor, tempDir, toyFiles, toyManifest, type TestServer } from './helpers.js';

let server: TestServer;
let cache: string;

beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  cache = await tempDir('cache');
  server.handle(serveMirror);
  server.requests.length = 0;
});
afterEach(async () => {
  await removeDir(cache);
});

const toyPaths = Object.keys(toyFiles).map((p) => `toy/${p}`).sort();

/** Asserts the cache holds no toy data file and no temporary file. */
async function expectNothingLeft(): Promise<void> {
  const files = await listFiles(cache);
  expect(files.filter((f) => f.startsWith('toy/') || f.startsWith('.partial/'))).toEqual([]);
}

describe('http mirror', () => {
  it('downloads, verifies and stamps every file; a second call makes no request', async () => {
    const store = storeFor(cache, parseMirror(server.base), [toyManifest()]);
    const folder = await ensureAssetIn(store, 'toy');
    expect(folder).toBe(join(cache, 'toy'));
    for (const [path, text] of Object.entries(toyFiles)) expect(await readFile(join(folder, path), 'utf8')).toBe(text);
    expect(server.requests.sort()).toEqual(['/toys/toy/a.txt', '/toys/toy/b.bin', '/toys/toy/sub/c.txt']);
    expect(await listFiles(cache)).toEqual([...toyPaths, '.verified/toy.json'].sort());

    server.requests.length = 0;
    expect(await ensureAssetIn(store, 'toy')).toBe(folder);
    expect(server.requests).toEqual([]);
  });

  it('serves the real photos asset from the shared mirror over http', async () => {
    const photos = builtinManifests(['photos']);
    const folder = await ensureAssetIn(storeFor(cache, parseMirror(server.base.replace(/\/$/, '')), [...photos.values()]), 'photos');
    const manifest = photos.get('photos');
    for (const file of manifest?.files ?? []) expect(sha256(await readFile(join(folder, file.path)))).toBe(file.sha256);
    expect(server.requests).toHaveLength(5);
    expect(server.requests.every((r) => r.startsWith('/photos/'))).toBe(true);
  });

  it('refuses a corrupted file, names asset, file and source, and keeps nothing of it', async () => {
    server.handle((request, response) => {
      if (request.url?.endsWith('b.bin')) {
        response.writeHead(200);
        response.end('c'.repeat(200_000));
      } else serveMirror(request, response);
    });
    const store = storeFor(cache, parseMirror(server.base), [toyManifest()]);
    const error = await ensureAssetIn(store, 'toy').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FilterAtlasError);
    const message = (error as Error).message;
    expect(message).toContain(`asset "toy", file "b.bin" from ${server.base}toys/toy/b.bin`);
    expect(message).toContain(`expected sha256 ${sha256(toyFiles['b.bin'] as string)} (200000 bytes), received sha256 ${sha256('c'.repeat(200_000))}`);
    const files = await listFiles(cache);
    expect(files).not.toContain('toy/b.bin');
    expect(files.filter((f) => f.startsWith('.partial/'))).toEqual([]);
  });

  it('reports a connection dropped mid-body (after one retry) and leaves nothing', async () => {
    const body = toyFiles['b.bin'] as string;
    server.handle((request, response) => {
      if (!request.url?.endsWith('b.bin')) return serveMirror(request, response);
      response.writeHead(200, { 'content-length': body.length });
      response.write(body.slice(0, 50_000), () => response.destroy());
    });
    const store = storeFor(cache, parseMirror(server.base), [{ ...toyManifest(), files: toyManifest().files.filter((f) => f.path === 'b.bin') }]);
    const error = await ensureAssetIn(store, 'toy').catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FilterAtlasError);
    expect((error as Error).message).toMatch(/^asset "toy", file "b\.bin" from http:\/\/127\.0\.0\.1:\d+\/toys\/toy\/b\.bin: expected a readable file, received the transfer broke after \d+ bytes of 200000 bytes \(.+\)\. The connection dropped; rerun the command to retry\.$/);
    expect(server.requests).toEqual(['/toys/toy/b.bin', '/toys/toy/b.bin']);
    await expectNothingLeft();
  });

  it('treats a body that ends early without Content-Length as a dropped connection', async () => {
    server.handle((request, response) => {
      response.writeHead(200);
      response.end('b'.repeat(1000));
    });
    const store = storeFor(cache, parseMirror(server.base), [{ ...toyManifest(), files: toyManifest().files.filter((f) => f.path === 'b.bin') }]);
    await expect(ensureAssetIn(store, 'toy')).rejects.toThrow(/received only 1000 of 200000 bytes \(the transfer ended early\)\. The connection dropped; rerun the command to retry\.$/);
    expect(server.requests).toHaveLength(2);
    await expectNothingLeft();
  });

  it('succeeds when the one retry after a dropped connection works', async () => {
    let calls = 0;
    server.handle((request, response) => {
      calls += 1;
      if (calls === 1) {
        response.writeHead(200, { 'content-length': 1000 });
        response.write('x'.repeat(10), () => response.destroy());
      } else serveMirror(request, response);
    });
    const store = storeFor(cache, parseMirror(server.base), [{ ...toyManifest(), files: toyManifest().files.slice(0, 1) }]);
    const folder = await ensureAssetIn(store, 'toy');
    expect(await readFile(join(folder, 'a.txt'), 'utf8')).toBe(toyFiles['a.txt']);
    expect(calls).toBe(2);
  });

  it('reports a file missing from the mirror (HTTP 404) without retrying', async () => {
    const manifest = toyManifest();
    manifest.files.push({ path: 'gone.txt', sha256: sha256('x'), url: 'http://127.0.0.1:9/gone.txt' });
    const error = await ensureAssetIn(storeFor(cache, parseMirror(server.base), [manifest]), 'toy', { progress: false }).catch((e: unknown) => e);
    expect((error as Error).message).toBe(
      `asset "toy", file "gone.txt" from ${server.base}toys/toy/gone.txt: expected a readable file, received HTTP 404 Not Found. ` +
        'The file is not at this address: check FILTER_ATLAS_MIRROR, or report the moved upstream file.',
    );
    expect(server.requests.filter((r) => r.endsWith('gone.txt'))).toHaveLength(1);
    expect(await listFiles(cache)).not.toContain('toy/gone.txt');
  });

  it('points at FILTER_ATLAS_MIRROR when upstream cannot be reached', async () => {
    const manifest = toyManifest();
    // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
    manifest.files = [{ path: 'a.txt', sha256: sha256('x'), url: 'http://127.0.0.1:9/a.txt' }];
    const error = await ensureAssetIn(storeFor(cache, undefined, [manifest]), 'toy', { progress: false }).catch((e: unknown) => e);
    expect((error as Error).message).toMatch(/^asset "toy", file "a.txt" from http:\/\/127.0.0.1:9\/a.txt: expected a readable file, received a network error \(.+\)\. Check the network connection and rerun\. Without internet, set FILTER_ATLAS_MIRROR to a folder or http\(s\) URL that holds the asset files as models\/<model>\/, datasets\/<dataset>\/ and photos\//);
  });

  it('honours an AbortSignal mid-transfer and removes the partial file', async () => {
    const controller = new AbortController();
    server.handle((request, response) => {
      response.writeHead(200, { 'content-length': 200_000 });
      // Half the body, then stall: only the abort can end this transfer.
      response.write('b'.repeat(100_000), () => setTimeout(() => controller.abort(), 50));
    });
    const store = storeFor(cache, parseMirror(server.base), [{ ...toyManifest(), files: toyManifest().files.filter((f) => f.path === 'b.bin') }]);
    const error = await ensureAssetIn(store, 'toy', { signal: controller.signal }).catch((e: unknown) => e);
    expect((error as Error).name).toBe('AbortError');
    await expectNothingLeft();
  });
});

describe('upstream (no mirror)', () => {
  it('downloads from the pinned URL and derives "first N lines" files before verifying', async () => {
    const full = 'one\ntwo\nthree\nfour\n';
    server.handle((request, response) => {
      response.writeHead(200);
      // Tiny chunks so that line counting crosses chunk boundaries.
      for (const piece of full.match(/.{1,3}/gs) ?? []) response.write(piece);
      response.end();
    });
    const manifest = { ...toyManifest(), files: [{ path: 'head.txt', sha256: sha256('one\ntwo\n'), bytes: 8, url: `${server.base}list.txt`, firstLines: 2 }] };
    const folder = await ensureAssetIn(storeFor(cache, undefined, [manifest]), 'toy');
    expect(await readFile(join(folder, 'head.txt'), 'utf8')).toBe('one\ntwo\n');
    expect(server.requests).toEqual(['/list.txt']);
  });
});

describe('cache', () => {
  it('re-hashes a file whose stamp no longer matches and refetches it when it changed', async () => {
    const store = storeFor(cache, parseMirror(server.base), [toyManifest()]);
    const folder = await ensureAssetIn(store, 'toy');
    // Same size, different bytes, new mtime: the stamp no longer vouches for it.
    await writeFile(join(folder, 'a.txt'), 'ALPHA\n');
    server.requests.length = 0;
    await ensureAssetIn(store, 'toy');
    expect(server.requests).toEqual(['/toys/toy/a.txt']);
    expect(await readFile(join(folder, 'a.txt'), 'utf8')).toBe('alpha\n');

    // A touched but unchanged file is hashed, found good, and not fetched again.
    const later = new Date(Date.now() + 5000);
    await utimes(join(folder, 'b.bin'), later, later);
    server.requests.length = 0;
    await ensureAssetIn(store, 'toy');
    expect(server.requests).toEqual([]);
  });

  it('catches a flipped byte whose mtime was put back, says the asset is not cached, and fetches the file again', async () => {
    const manifest = toyManifest();
    const store = storeFor(cache, parseMirror(server.base), [manifest]);
    const folder = await ensureAssetIn(store, 'toy');
    const file = join(folder, 'b.bin');
    // Whole seconds, so that the mtime can be put back exactly (what `touch -r` does).
    await utimes(file, 1_700_000_000, 1_700_000_000);
    await ensureAssetIn(store, 'toy');
    expect(isCachedSync(cache, manifest)).toBe(true);
    const handle = await open(file, 'r+');
    await handle.write(Buffer.from('c'), 0, 1, 1000);
    await handle.close();
    await utimes(file, 1_700_000_000, 1_700_000_000);
    expect((await stat(file)).mtimeMs).toBe(1_700_000_000_000);
    expect(isCachedSync(cache, manifest)).toBe(false);
    server.requests.length = 0;
    await ensureAssetIn(store, 'toy');
    expect(server.requests).toEqual(['/toys/toy/b.bin']);
    expect(sha256(await readFile(file))).toBe(sha256(toyFiles['b.bin']));
    expect(isCachedSync(cache, manifest)).toBe(true);
  });

  it('with verify, hashes every file even when the stamp vouches for it, and repairs the one that differs', async () => {
    const store = storeFor(cache, parseMirror(server.base), [toyManifest()]);
    const folder = await ensureAssetIn(store, 'toy');
    await writeFile(join(folder, 'a.txt'), 'ALPHA\n');
    // A stamp that vouches for the damaged file (say, restored from a backup with it).
    const stamp = await readStamp(cache, 'toy');
    const info = await stat(join(folder, 'a.txt'));
    stamp.files['a.txt'] = { ...stamp.files['a.txt']!, size: info.size, mtimeMs: info.mtimeMs, ctimeMs: info.ctimeMs, ino: info.ino };
    await writeStamp(cache, 'toy', stamp);
    server.requests.length = 0;
    await ensureAssetIn(store, 'toy');
    expect(server.requests).toEqual([]);
    await ensureAssetIn(store, 'toy', { verify: true });
    expect(server.requests).toEqual(['/toys/toy/a.txt']);
    expect(await readFile(join(folder, 'a.txt'), 'utf8')).toBe('alpha\n');
  });

  it('removes the downloads a killed process left in .partial/, and keeps a live process\'s', async () => {
    const store = storeFor(cache, parseMirror(server.base), [toyManifest()]);
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await mkdir(join(cache, '.partial'), { recursive: true });
    const killed = join(cache, '.partial', `toy__a.txt.${dead}.0123abcd.partial`);
    const live = join(cache, '.partial', `toy__b.bin.${process.pid}.4567cdef.partial`);
    await writeFile(killed, 'half');
    await writeFile(live, 'half');
    await ensureAssetIn(store, 'toy');
    expect(await listFiles(join(cache, '.partial'))).toEqual([`toy__b.bin.${process.pid}.4567cdef.partial`]);
  });

  it('describes the cache state without hashing', async () => {
    const manifests = builtinManifests(['photos']);
    const store = storeFor(cache, parseMirror(server.base), [...manifests.values()]);
    expect(describeAssetsIn(store)).toEqual([
      expect.objectContaining({ name: 'photos', kind: 'photos', files: 5, bytes: 1_924_636, cached: false }),
    ]);
    await ensureAssetIn(store, 'photos');
    expect(describeAssetsIn(store)[0]?.cached).toBe(true);
  });
});
