/**
 * Folder mirrors (air-gapped machines, CI): the real darknet-tiny and photos assets copied from
 * the shared mirror and verified; reuse without touching the mirror; missing and corrupted files.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ensureAssetIn } from '../../pipeline/assets/ensure.js';
import { builtinManifests } from '../../pipeline/assets/manifest.js';
import { parseMirror } from '../../pipeline/assets/sources.js';
import { listFiles, removeDir, sha256, sharedMirror, storeFor, tempDir, toyFiles, toyManifest } from './helpers.js';

let cache: string;
beforeEach(async () => {
  cache = await tempDir('cache');
});
afterEach(async () => {
  await removeDir(cache);
});

describe('folder mirror', () => {
  it('copies and verifies the real darknet-tiny and photos assets, then reuses them', async () => {
    const manifests = [...builtinManifests(['darknet-tiny', 'photos']).values()];
    const store = storeFor(cache, parseMirror(sharedMirror), manifests);
    for (const manifest of manifests) {
      const folder = await ensureAssetIn(store, manifest.name);
      expect(folder).toBe(join(cache, manifest.name));
      expect((await listFiles(folder)).sort()).toEqual(manifest.files.map((f) => f.path).sort());
      for (const file of manifest.files) expect(sha256(await readFile(join(folder, file.path)))).toBe(file.sha256);
    }
    // A mirror that no longer exists proves the second call reads nothing from it.
    const gone = storeFor(cache, parseMirror(join(cache, 'no-such-mirror')), manifests);
    for (const manifest of manifests) expect(await ensureAssetIn(gone, manifest.name)).toBe(join(cache, manifest.name));
  });

  it('names the missing mirror file and keeps the files that were verified', async () => {
    const mirror = await tempDir('mirror');
    try {
      await mkdir(join(mirror, 'toys/toy'), { recursive: true });
      await writeFile(join(mirror, 'toys/toy/a.txt'), toyFiles['a.txt'] as string);
      const store = storeFor(cache, parseMirror(mirror), [{ ...toyManifest(), files: toyManifest().files.filter((f) => f.path !== 'b.bin') }]);
      const error = await ensureAssetIn(store, 'toy').catch((e: unknown) => e);
      expect((error as Error).message).toBe(
        `asset "toy", file "sub/c.txt" from mirror folder file ${mirror}/toys/toy/sub/c.txt: expected a readable file, received no such file. ` +
          'The mirror folder lacks this file. Set FILTER_ATLAS_MIRROR to a folder or http(s) base URL laid out like the shared assets folder ' +
          '(models/<model>/, datasets/<dataset>/, photos/), or unset it to download from upstream.',
      );
      expect(await listFiles(cache)).toEqual(['.verified/toy.json', 'toy/a.txt']);
    } finally {
      await removeDir(mirror);
    }
  });

  it('refuses a corrupted mirror file', async () => {
    const mirror = await tempDir('mirror');
    try {
      await mkdir(join(mirror, 'toys/toy'), { recursive: true });
      await writeFile(join(mirror, 'toys/toy/a.txt'), 'ALPHA\n');
      const store = storeFor(cache, parseMirror(mirror), [{ ...toyManifest(), files: toyManifest().files.slice(0, 1) }]);
      await expect(ensureAssetIn(store, 'toy')).rejects.toThrow(/^asset "toy", file "a\.txt" from mirror folder file .*: expected sha256 [0-9a-f]{64} \(6 bytes\), received sha256 [0-9a-f]{64} \(6 bytes\)/);
      expect(await listFiles(cache)).toEqual([]);
    } finally {
      await removeDir(mirror);
    }
  });

  it('says when the mirror folder itself does not exist', async () => {
    const store = storeFor(cache, parseMirror('/no/such/folder'), [toyManifest()]);
    await expect(ensureAssetIn(store, 'toy')).rejects.toThrow(/^FILTER_ATLAS_MIRROR: expected an existing folder, received \/no\/such\/folder \(does not exist\)\./);
  });
});
