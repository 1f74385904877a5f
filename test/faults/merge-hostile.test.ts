/**
 * Hostile shard folders (CI artifacts, a shared volume) given to `filter-atlas merge`: two real shards
 * of a small build, then, each in a copy of them, one tampering: an atlas id that leaves the output
 * (`../../evil`) or names the diffs folder (`diffs`), a record key that leaves records/, a record's file
 * path that leaves the shard or points into the other shard's folder, a symlinked file, a symlinked
 * folder. Each is refused with a user error, and nothing is written outside the output folder (the
 * sandbox's parent folder is the same before and after, link for link). A file whose bytes do not
 * match its record (the probe model's size) is not taken: records hold no digest of their files, so a
 * wrong size reads as a copy damaged in transfer, skipped as such (the atlas is incomplete and says
 * so; --strict is another issue's), and its bytes are not published.
 */
import { appendFile, copyFile, cp, lstat, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shardManifestSchema, type ShardManifest } from '../../pipeline/atlas/shard-manifest.js';
import { atlasSchema } from '../../pipeline/schema/atlas.js';
import { cli, isUserError, recordFigures, type RunResult } from './harness.js';

const CONFIG = `
atlas: hostile
model: darknet-tiny
seed: 1
layers:
  - layer: leaky_re_lu_2
    filters: "0-3"
method: { scales: 2, stepsPerScale: 2 }
batch: { size: 2 }
`;

let work: string;
let pristine: string;
let hostileInputs = 0;

const shardDir = (root: string, k: number) => join(root, 'shards', String(k), 'hostile');

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-merge-hostile-'));
  await writeFile(join(work, 'hostile.yaml'), CONFIG);
  pristine = join(work, 'pristine');
  const runs = await Promise.all(
    [1, 2].map((k) => cli(['build', join(work, 'hostile.yaml'), '--threads', '1', '--shard', `${k}/2`, '--output', join(pristine, 'shards', String(k))])),
  );
  for (const run of runs) expect(run.code, run.stderr).toBe(0);
}, 600_000);

afterAll(async () => {
  await recordFigures('merge-hostile', { hostileInputs });
  if (work) await rm(work, { recursive: true, force: true });
});

/** Every entry under `root` but those under `skip`, as lstat sees it (links are not followed). */
async function snapshot(root: string, skip: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true });
  const out: string[] = [];
  for (const entry of entries) {
    const path = join(entry.parentPath, entry.name);
    if (path === skip || path.startsWith(`${skip}/`)) continue;
    const info = await lstat(path);
    out.push(`${relative(root, path)} ${info.isSymbolicLink() ? 'link' : info.isDirectory() ? 'dir' : 'file'} ${info.isDirectory() ? '' : `${info.size} ${info.ino} ${info.mtimeMs}`}`);
  }
  return out.sort();
}

/** Symbolic links under a folder. */
async function linksUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isSymbolicLink()).map((e) => join(e.parentPath, e.name));
}

interface Case {
  /** The case's folder: the sandbox's parent. */
  parent: string;
  /** The sandbox: shards/1, shards/2 and output. */
  box: string;
  output: string;
  manifest: ShardManifest;
}

/** A fresh copy of the two shards, inside a sandbox inside a parent folder. */
async function freshCase(name: string): Promise<Case> {
  const parent = join(work, 'cases', name);
  const box = join(parent, 'box');
  await mkdir(box, { recursive: true });
  await cp(join(pristine, 'shards'), join(box, 'shards'), { recursive: true });
  const manifest = shardManifestSchema.parse(JSON.parse(await readFile(join(shardDir(box, 1), 'shards', '1-of-2.json'), 'utf8')));
  return { parent, box, output: join(box, 'output'), manifest };
}

/** Rewrites both shards' manifests (consistently, so that they still look like one build). */
async function editManifests(c: Case, edit: (manifest: Record<string, unknown>) => void): Promise<void> {
  for (const k of [1, 2]) {
    const file = join(shardDir(c.box, k), 'shards', `${k}-of-2.json`);
    const manifest = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
    edit(manifest);
    await writeFile(file, JSON.stringify(manifest));
  }
}

/** The first batch's first filter: its record key and the shard that computed it. */
function firstPicture(c: Case): { key: string; shard: number; other: number } {
  const u = c.manifest.units.findIndex((unit) => unit.kind === 'batch');
  const unit = c.manifest.units[u];
  if (unit.kind !== 'batch') throw new Error('no batch');
  const shard = c.manifest.assignment[u];
  return { key: unit.keys[0], shard, other: 3 - shard };
}

async function editRecord(c: Case, shard: number, key: string, edit: (record: Record<string, unknown>) => void): Promise<void> {
  const file = join(shardDir(c.box, shard), 'records', `${key}.json`);
  const record = JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown>;
  edit(record);
  await writeFile(file, JSON.stringify(record));
}

/** Runs merge on the case's shards; checks that the parent holds what it held, and that the output has no link. */
async function merge(c: Case): Promise<RunResult> {
  hostileInputs += 1;
  const before = await snapshot(c.parent, c.output);
  const result = await cli(['merge', join(c.box, 'shards', '1'), join(c.box, 'shards', '2'), '--output', c.output]);
  expect(await snapshot(c.parent, c.output), 'nothing written outside the output folder').toEqual(before);
  expect(await linksUnder(c.output)).toEqual([]);
  return result;
}

describe('merge refuses hostile shard folders', () => {
  it('an atlas id that leaves the output folder', async () => {
    const c = await freshCase('atlas-traversal');
    await editManifests(c, (m) => {
      m.atlas = '../../evil';
      (m.frame as Record<string, unknown>).id = '../../evil';
    });
    const result = await merge(c);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain('atlas: expected letters, digits, ".", "_" or "-", received "../../evil"');
  });

  it('the reserved atlas id diffs (the site would skip it)', async () => {
    const c = await freshCase('atlas-diffs');
    await editManifests(c, (m) => {
      m.atlas = 'diffs';
      (m.frame as Record<string, unknown>).id = 'diffs';
    });
    const result = await merge(c);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain('expected an atlas id other than "diffs"');
  });

  it('a record key that leaves records/', async () => {
    const c = await freshCase('key-traversal');
    const { key, shard } = firstPicture(c);
    const evil = '../../../../evil-key';
    await editManifests(c, (m) => {
      const unit = (m.units as Array<{ kind: string; keys?: string[] }>).find((u) => u.kind === 'batch')!;
      unit.keys![0] = evil;
    });
    // The record the key reaches from the shard's records/ (the sandbox's own folder), made to match it.
    const record = JSON.parse(await readFile(join(shardDir(c.box, shard), 'records', `${key}.json`), 'utf8')) as Record<string, unknown>;
    await writeFile(join(c.box, 'evil-key.json'), JSON.stringify({ ...record, key: evil }));
    const result = await merge(c);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain('expected a record key: <kind>-<20 hex digits>');
  });

  it("a record's file path that leaves the shard", async () => {
    const c = await freshCase('file-traversal');
    const { key, shard } = firstPicture(c);
    await copyFile(join(shardDir(c.box, shard), 'files', key, 'viz.png'), join(c.box, 'pwned.png'));
    await editRecord(c, shard, key, (r) => (r.image = 'files/../../../../pwned.png'));
    const result = await merge(c);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain('"files/../../../../pwned.png": not a plain relative path under files/');
  });

  it("a record's file path into the other shard's folder", async () => {
    const c = await freshCase('file-other-shard');
    const { key, shard, other } = firstPicture(c);
    // A picture the other shard computed: a real file there.
    const theirs = c.manifest.units.find((unit, u) => unit.kind === 'batch' && c.manifest.assignment[u] === other);
    const target = theirs?.kind === 'batch' ? `files/${theirs.keys[0]}/viz.png` : `files/${key}/viz.png`;
    await editRecord(c, shard, key, (r) => (r.image = `files/../../../${other}/hostile/${target}`));
    const result = await merge(c);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain('not a plain relative path under files/');
  });

  it('a symlinked file in files/', async () => {
    const c = await freshCase('symlinked-file');
    const { key, shard } = firstPicture(c);
    const picture = join(shardDir(c.box, shard), 'files', key, 'viz.png');
    await copyFile(picture, join(c.parent, 'outside.png'));
    await rm(picture);
    await symlink(join(c.parent, 'outside.png'), picture);
    const result = await merge(c);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain(`"files/${key}/viz.png": a link, not a regular file`);
  });

  it('a symlinked folder in files/', async () => {
    const c = await freshCase('symlinked-folder');
    const { key, shard } = firstPicture(c);
    const folder = join(shardDir(c.box, shard), 'files', key);
    await cp(folder, join(c.parent, 'outside'), { recursive: true });
    await rm(folder, { recursive: true });
    await symlink(join(c.parent, 'outside'), folder);
    const result = await merge(c);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain(`files/${key} is a link, not a folder`);
  });
});

describe('merge does not publish a file whose bytes do not match its record', () => {
  it('the probe model of another size than its record says: skipped as a damaged copy, reported missing', async () => {
    const c = await freshCase('bytes-mismatch');
    const datasetShard = c.manifest.assignment[c.manifest.units.findIndex((unit) => unit.kind === 'dataset')];
    const dir = shardDir(c.box, datasetShard);
    const manifest = shardManifestSchema.parse(JSON.parse(await readFile(join(dir, 'shards', `${datasetShard}-of-2.json`), 'utf8')));
    const probeKey = manifest.datasetResult!.probeModelKey!;
    const record = JSON.parse(await readFile(join(dir, 'records', `${probeKey}.json`), 'utf8')) as { file: string; bytes: number };
    await appendFile(join(dir, record.file), Buffer.from('tampered'));
    const result = await merge(c);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`names ${record.file}, which is ${record.bytes + 8} bytes, expected ${record.bytes}`);
    const atlas = atlasSchema.parse(JSON.parse(await readFile(join(c.output, 'hostile', 'atlas.json'), 'utf8')));
    expect(atlas.complete).toBe(false);
    expect(atlas.probeModel).toBeUndefined();
    expect(atlas.missing?.shards).toEqual([`${datasetShard}/2`]);
    expect(await lstat(join(c.output, 'hostile', record.file)).catch(() => undefined)).toBeUndefined();
  });
});
