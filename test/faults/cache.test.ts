/**
 * Damaged model files, through the real CLI with its own cache (FILTER_ATLAS_CACHE in a temp folder,
 * filled from FILTER_ATLAS_MIRROR): a cached weights file with one flipped byte and its mtime put
 * back, and one cut short with its mtime put back, are both caught, fetched again and used; a user's
 * own truncated model files (TF.js weights, model.json, .onnx) give a clear error naming the file.
 */
import { copyFile, cp, mkdtemp, open, readFile, stat, truncate, utimes, writeFile } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { builtinManifests } from '../../pipeline/assets/manifest.js';
import { floatTensor, modelBytes, node } from '../model/helpers/onnx.js';
import { cli, isUserError, recordFigures } from './harness.js';

let work: string;
let cache: string;
let faults = 0;
let hostile = 0;
const manifest = builtinManifests(['darknet-tiny']).get('darknet-tiny')!;
/** The largest weights shard: a flipped byte there changes conv2d_14. */
const shard = [...manifest.files].sort((a, b) => (b.bytes ?? 0) - (a.bytes ?? 0))[0];

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** A whole second, so that a tampered file's mtime can be put back exactly (what `touch -r` does). */
const MTIME = 1_700_000_000;

/** Writes `change` into the cached shard, then puts its mtime back: the mtime says nothing happened. */
async function tamper(change: (path: string) => Promise<void>): Promise<string> {
  const path = join(cache, 'darknet-tiny', shard.path);
  await change(path);
  await utimes(path, MTIME, MTIME);
  expect((await stat(path)).mtimeMs).toBe(MTIME * 1000);
  return path;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-cache-'));
  cache = join(work, 'cache');
  const fetched = await cli(['fetch', 'darknet-tiny', '--no-progress'], { env: { FILTER_ATLAS_CACHE: cache } });
  expect(fetched.code, fetched.stderr).toBe(0);
  // The shard verified and stamped with a whole-second mtime.
  await utimes(join(cache, 'darknet-tiny', shard.path), MTIME, MTIME);
  const stamped = await cli(['fetch', 'darknet-tiny', '--no-progress'], { env: { FILTER_ATLAS_CACHE: cache } });
  expect(stamped.code, stamped.stderr).toBe(0);
});

afterAll(async () => {
  await recordFigures('cache', { faultsInjected: faults, hostileInputs: hostile });
});

describe('a damaged cached model', () => {
  const env = () => ({ FILTER_ATLAS_CACHE: cache });

  it('a flipped byte with its mtime put back: `models` says not cached, the next use fetches it again', async () => {
    const path = await tamper(async (p) => {
      const handle = await open(p, 'r+');
      const byte = Buffer.alloc(1);
      await handle.read(byte, 0, 1, 1000);
      await handle.write(Buffer.from([byte[0] ^ 0xff]), 0, 1, 1000);
      await handle.close();
    });
    faults += 1;
    const models = await cli(['models'], { env: env() });
    expect(models.stdout).toMatch(/^darknet-tiny .* not cached /m);
    const layers = await cli(['layers', 'darknet-tiny'], { env: env() });
    expect(layers.code, layers.stderr).toBe(0);
    expect(sha256(await readFile(path))).toBe(shard.sha256);
    expect((await cli(['models'], { env: env() })).stdout).toMatch(/^darknet-tiny .* cached /m);
  });

  it('a truncated file with its mtime put back: `fetch` repairs it', async () => {
    const path = await tamper((p) => truncate(p, 1000));
    faults += 1;
    const fetched = await cli(['fetch', 'darknet-tiny', '--no-progress'], { env: env() });
    expect(fetched.code, fetched.stderr).toBe(0);
    expect(sha256(await readFile(path))).toBe(shard.sha256);
  });
});

describe("a user's truncated model files", () => {
  it('give a clear error naming the file, never a stack trace', async () => {
    const model = join(work, 'my-model');
    await cp(join(cache, 'darknet-tiny'), model, { recursive: true });
    await truncate(join(model, shard.path), 1000);
    const weights = await cli(['layers', join(model, 'model.json')], { env: { FILTER_ATLAS_CACHE: cache } });
    expect(isUserError(weights), weights.stderr).toBe(true);
    expect(weights.stderr).toContain(`filter-atlas: ${join(model, 'model.json')} weight`);
    expect(weights.stderr).toContain('truncated');

    await copyFile(join(cache, 'darknet-tiny', 'model.json'), join(model, 'cut.json'));
    await truncate(join(model, 'cut.json'), 5000);
    const topology = await cli(['layers', join(model, 'cut.json')]);
    expect(isUserError(topology), topology.stderr).toBe(true);
    expect(topology.stderr).toContain(`filter-atlas: ${join(model, 'cut.json')}: expected a readable TensorFlow.js model.json`);

    const onnx = Buffer.from(
      modelBytes({
        input: { name: 'x', dims: ['N', 3, 8, 8] },
        output: 'y',
        initializers: [floatTensor('W', [4, 3, 3, 3], new Float32Array(108).fill(0.5))],
        nodes: [node('Conv', 'conv', ['x', 'W'], ['y'], { pads: [1, 1, 1, 1] })],
      }),
    );
    await writeFile(join(model, 'cut.onnx'), onnx.subarray(0, onnx.length >> 1));
    const cut = await cli(['layers', join(model, 'cut.onnx')]);
    expect(isUserError(cut), cut.stderr).toBe(true);
    expect(cut.stderr).toContain(join(model, 'cut.onnx'));
    hostile += 3;
  });
});
