/**
 * The built-in manifests and the derivations that rebuild label files from upstream lists,
 * checked against the pinned hashes; mirror settings.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { derivation } from '../../pipeline/assets/derive.js';
import { ensureAssetIn } from '../../pipeline/assets/ensure.js';
import { assetNames, builtinManifests, parseManifest, type AssetFile, type AssetManifest } from '../../pipeline/assets/manifest.js';
import { parseMirror } from '../../pipeline/assets/sources.js';
import { removeDir, sha256, sharedMirror, storeFor, tempDir, toyManifest } from './helpers.js';

const manifests = builtinManifests();

function manifest(name: string): AssetManifest {
  const found = manifests.get(name);
  if (!found) throw new Error(`no manifest ${name}`);
  return found;
}

function entry(m: AssetManifest, path: string): AssetFile {
  const found = m.files.find((f) => f.path === path);
  if (!found) throw new Error(`no file ${path}`);
  return found;
}

/** Runs `text` through the file's derivation in small chunks and returns the result. */
async function derive(m: AssetManifest, file: AssetFile, text: string): Promise<Buffer> {
  const transform = derivation(m, file);
  if (!transform) throw new Error(`${file.path} has no derivation`);
  const pieces = Buffer.from(text).toString('latin1').match(/[\s\S]{1,777}/g) ?? [];
  const out: Buffer[] = [];
  for await (const chunk of Readable.from(pieces.map((p) => Buffer.from(p, 'latin1'))).pipe(transform)) out.push(chunk as Buffer);
  return Buffer.concat(out);
}

let cache: string;
beforeEach(async () => {
  cache = await tempDir('cache');
});
afterEach(async () => {
  await removeDir(cache);
});

/** One file of a built-in asset, through the product's folder-mirror path. */
async function mirroredText(name: string, path: string): Promise<string> {
  const m = manifest(name);
  const store = storeFor(cache, parseMirror(sharedMirror), [{ ...m, files: [entry(m, path)] }]);
  return readFile(join(await ensureAssetIn(store, name), path), 'utf8');
}

describe('built-in manifests', () => {
  it('pin every file of the five assets to an immutable https address', () => {
    expect([...manifests.keys()]).toEqual([...assetNames]);
    for (const m of manifests.values()) {
      for (const file of m.files) {
        expect(file.url).toMatch(/^https:\/\//);
        // A commit, a version tag or a versioned package: never a moving branch.
        expect(file.url).toMatch(/\/[0-9a-f]{40}\/|\/v\d+\.\d+\.\d+\/|@\d+\.\d+\.\d+\/|\/tfjs-models\/tfjs\/mobilenet_v1_0\.25_224\//);
      }
    }
    expect(manifest('imagenet-sample').files).toHaveLength(1001);
    expect(manifest('vgg16_bn').mirrorPath).toBe('models/vgg16_bn/');
  });

  it('rejects paths that would escape the cache folder', () => {
    const bad = { ...toyManifest(), files: [{ ...toyManifest().files[0], path: '../x' }] };
    expect(() => parseManifest(bad, 'test.json')).toThrow(/^test\.json \(files\.0\.path\): expected a valid asset manifest, received must be a relative path inside the asset folder/);
  });
});

describe('derived label files', () => {
  it('darknet names: the first 1000 lines of the upstream list give the pinned file', async () => {
    const m = manifest('darknet-tiny');
    const file = entry(m, 'imagenet1k_darknet_names.txt');
    const published = await mirroredText('darknet-tiny', file.path);
    const upstreamLike = `${published}singles\nVirginia deer\n`;
    expect(sha256(await derive(m, file, upstreamLike))).toBe(file.sha256);
    expect(sha256(await derive(m, file, `x\n${published}`))).not.toBe(file.sha256);
  });

  it('classes.tsv: the synset words list joined with the photo names gives the pinned file', async () => {
    const m = manifest('imagenet-sample');
    const file = entry(m, 'classes.tsv');
    const published = await mirroredText('imagenet-sample', 'classes.tsv');
    const synsetWords = published.split('\n').slice(1, -1).map((row) => `${row.split('\t')[3]}\n`).join('');
    expect(sha256(await derive(m, file, synsetWords))).toBe(file.sha256);
    expect(sha256(await derive(m, file, synsetWords.replace('jellyfish', 'jelly fish')))).not.toBe(file.sha256);
  });
});

describe('FILTER_ATLAS_MIRROR', () => {
  it('accepts folders, file:// and http(s) URLs and rejects other schemes', () => {
    expect(parseMirror(undefined)).toBeUndefined();
    expect(parseMirror('  ')).toBeUndefined();
    expect(parseMirror('http://host:8080/assets')).toEqual({ kind: 'http', base: 'http://host:8080/assets/' });
    expect(parseMirror('mirror', '/base')).toEqual({ kind: 'folder', root: '/base/mirror' });
    expect(parseMirror('file:///srv/assets')).toEqual({ kind: 'folder', root: '/srv/assets' });
    expect(() => parseMirror('ftp://host/assets')).toThrow(/^FILTER_ATLAS_MIRROR: expected a folder, a file:\/\/ URL or an http\(s\) URL, received "ftp:\/\/host\/assets"/);
  });
});
