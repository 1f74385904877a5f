/**
 * The model store on small files: one entry per digest (added once, then found), a copy that does not
 * match the digest never takes the name, a TensorFlow.js folder kept with its shards, and merge's
 * gathering from a shard's output folder into another, checked against the digest.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findStoredModel, gatherStoredModel, keepModel, MODEL_STORE_FOLDER } from '../../pipeline/atlas/model-store.js';
import { digestFiles } from '../../pipeline/model/digest.js';
import type { CnnModel } from '../../pipeline/model/graph.js';

let dir: string;

/** Just what the store reads of a model: its digest and files. */
const modelOf = (weightsDigest: string, weightFiles: string[]) => ({ weightsDigest, weightFiles }) as unknown as CnnModel;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fa-model-store-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('model store', () => {
  it('keeps a single weights file once per digest, and the copy outlives the file being overwritten', async () => {
    const file = join(dir, 'model.onnx');
    await writeFile(file, 'version one');
    const digest = await digestFiles([file]);
    const output = join(dir, 'out-single');
    expect(await keepModel(modelOf(digest, [file]), file, output)).toEqual({ path: join(output, MODEL_STORE_FOLDER, `${digest}.onnx`), added: true });
    expect(await keepModel(modelOf(digest, [file]), file, output)).toMatchObject({ added: false });
    await writeFile(file, 'version two');
    const found = await findStoredModel(output, digest);
    expect(await readFile(found!, 'utf8')).toBe('version one');
    expect(await findStoredModel(output, '../' + digest)).toBeUndefined();
  });

  it('a copy whose bytes do not match the digest is refused, said, and leaves nothing', async () => {
    const file = join(dir, 'other.onnx');
    await writeFile(file, 'bytes');
    const output = join(dir, 'out-mismatch');
    const kept = await keepModel(modelOf('0'.repeat(64), [file]), file, output);
    expect(kept).toEqual({ skipped: expect.stringContaining('the file changed while it was copied') });
    expect(await readdir(join(output, MODEL_STORE_FOLDER)).catch(() => [])).toEqual([]);
  });

  it('built-in models are not copied', async () => {
    expect(await keepModel(modelOf('a'.repeat(64), ['/x/model.json', '/x/shard.bin']), 'darknet-tiny', join(dir, 'out-builtin'))).toEqual({ skipped: expect.stringContaining('built-in') });
  });

  it('keeps a TensorFlow.js folder, and merge gathers it from a shard folder, checked', async () => {
    const source = join(dir, 'tfjs');
    await mkdir(join(source, 'shards'), { recursive: true });
    await writeFile(join(source, 'my-model.json'), JSON.stringify({ weightsManifest: [{ paths: ['shards/b.bin', 'a.bin'] }] }));
    await writeFile(join(source, 'shards', 'b.bin'), 'BBBB');
    await writeFile(join(source, 'a.bin'), 'AAAA');
    const files = [join(source, 'my-model.json'), join(source, 'shards', 'b.bin'), join(source, 'a.bin')];
    const digest = await digestFiles(files);
    const shardOutput = join(dir, 'shard-out');
    const kept = await keepModel(modelOf(digest, files), files[0], shardOutput);
    expect(kept).toEqual({ path: join(shardOutput, MODEL_STORE_FOLDER, digest, 'model.json'), added: true });
    const merged = join(dir, 'merged-out');
    expect(await gatherStoredModel(digest, [join(dir, 'nothing-here'), shardOutput], merged)).toEqual({ path: join(merged, MODEL_STORE_FOLDER, digest, 'model.json'), added: true });
    const entry = join(merged, MODEL_STORE_FOLDER, digest);
    expect(await digestFiles([join(entry, 'model.json'), join(entry, 'shards', 'b.bin'), join(entry, 'a.bin')])).toBe(digest);
    expect(await gatherStoredModel(digest, [shardOutput], merged)).toMatchObject({ added: false });
    expect(await gatherStoredModel('b'.repeat(64), [shardOutput], merged)).toBeUndefined();
  });
});
