/**
 * deploy/nightly-versions.mjs, the versions rule of both nightlies (GitHub Actions and the Kubernetes
 * CronJob): ids that sort by time, a shard folder that carries last night's records into tonight's
 * version and holds one version, and a prune that keeps the newest N complete versions with their
 * diffs and the stored weights some atlas still uses. Also through its command line, as the workflow
 * calls it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const script = resolve(import.meta.dirname, '../../deploy/nightly-versions.mjs');
const versions = (await import(pathToFileURL(script).href)) as {
  versionStamp(date?: Date): string;
  versionId(atlas: string, stamp: string): string;
  versionTitle(atlas: string, stamp: string): string;
  versionsIn(dir: string, atlas: string): Promise<string[]>;
  adopt(shardDir: string, atlas: string, version: string): Promise<string | undefined>;
  prune(outputDir: string, atlas: string, keep: number): Promise<string[]>;
  clearStore(shardDir: string): Promise<void>;
};

const scratch = mkdtempSync(join(tmpdir(), 'nightly-versions-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function atlas(dir: string, complete: boolean, digest: string) {
  mkdirSync(join(dir, 'records'), { recursive: true });
  writeFileSync(join(dir, 'atlas.json'), JSON.stringify({ id: dir.split('/').at(-1), complete, model: { weightsDigest: digest } }));
}
const digest = (c: string) => c.repeat(64);

describe('nightly versions', () => {
  it('stamps nights in UTC, fixed width, and refuses ids and stamps that are not', () => {
    expect(versions.versionStamp(new Date('2026-01-02T03:04:59Z'))).toBe('20260102-0304');
    expect(versions.versionId('my-model', '20260102-0304')).toBe('my-model.20260102-0304');
    expect(versions.versionTitle('my-model', '20260102-0304')).toBe('my-model, 2026-01-02 03:04 UTC');
    expect(execFileSync('node', [script, 'title', 'my-model', '20260102-0304'], { encoding: 'utf8' })).toBe('my-model, 2026-01-02 03:04 UTC\n');
    expect(() => versions.versionId('my model', '20260102-0304')).toThrow(/atlas id: expected letters/);
    expect(() => versions.versionId('m', '2026-01-02')).toThrow(/version stamp: expected YYYYMMDD-HHMM/);
  });

  it('lists the versions of one atlas only, oldest first', async () => {
    const dir = join(scratch, 'list');
    for (const name of ['m.20260103-0300', 'm.20260101-0300', 'm2.20260102-0300', 'm.latest', 'mx20260101-0300']) mkdirSync(join(dir, name), { recursive: true });
    expect(await versions.versionsIn(dir, 'm')).toEqual(['m.20260101-0300', 'm.20260103-0300']);
    expect(await versions.versionsIn(join(scratch, 'none'), 'm')).toEqual([]);
  });

  it('adopt: last night\'s shard folder becomes tonight\'s with its records; older ones go', async () => {
    const dir = join(scratch, 'shard');
    atlas(join(dir, 'm.20260101-0300'), false, digest('a'));
    atlas(join(dir, 'm.20260102-0300'), false, digest('b'));
    writeFileSync(join(dir, 'm.20260102-0300', 'records', 'k.json'), '{}');
    mkdirSync(join(dir, 'other.20260101-0300'));
    expect(await versions.adopt(dir, 'm', 'm.20260103-0300')).toBe('m.20260102-0300');
    expect(readdirSync(dir).sort()).toEqual(['m.20260103-0300', 'other.20260101-0300']);
    expect(existsSync(join(dir, 'm.20260103-0300', 'records', 'k.json'))).toBe(true);
    // A rerun of the same night finds its folder and keeps it.
    expect(await versions.adopt(dir, 'm', 'm.20260103-0300')).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual(['m.20260103-0300', 'other.20260101-0300']);
  });

  it('clear-store: a shard\'s model store is emptied, its versions stay', async () => {
    const dir = join(scratch, 'shard-store');
    atlas(join(dir, 'm.20260101-0300'), false, digest('a'));
    mkdirSync(join(dir, 'model-store'));
    writeFileSync(join(dir, 'model-store', `${digest('a')}.onnx`), 'a');
    execFileSync('node', [script, 'clear-store', dir]);
    expect(readdirSync(dir)).toEqual(['m.20260101-0300']);
    await versions.clearStore(join(scratch, 'no-such-shard'));
  });

  it('prune: the newest N complete versions stay, with their diffs and the weights atlases still use', async () => {
    const out = join(scratch, 'output');
    atlas(join(out, 'm.20260101-0300'), true, digest('a'));
    atlas(join(out, 'm.20260102-0300'), true, digest('b'));
    atlas(join(out, 'm.20260103-0300'), false, digest('c')); // a failed night
    atlas(join(out, 'm.20260104-0300'), true, digest('b'));
    atlas(join(out, 'm.20260105-0300'), true, digest('d'));
    atlas(join(out, 'other'), true, digest('e'));
    for (const d of ['m.20260101-0300__m.20260102-0300', 'm.20260102-0300__m.20260104-0300', 'm.20260104-0300__m.20260105-0300', 'other__other']) mkdirSync(join(out, 'diffs', d), { recursive: true });
    mkdirSync(join(out, 'model-store'));
    for (const c of 'abce') writeFileSync(join(out, 'model-store', `${digest(c)}.onnx`), c);
    // A TensorFlow.js model is a folder entry.
    mkdirSync(join(out, 'model-store', digest('d')));
    writeFileSync(join(out, 'model-store', digest('d'), 'model.json'), '{}');
    mkdirSync(join(out, 'model-store', digest('f')));
    writeFileSync(join(out, 'model-store', 'README'), 'not a stored model');

    expect(await versions.prune(out, 'm', 3)).toEqual(['m.20260102-0300', 'm.20260104-0300', 'm.20260105-0300']);
    expect(readdirSync(out).sort()).toEqual(['diffs', 'm.20260102-0300', 'm.20260104-0300', 'm.20260105-0300', 'model-store', 'other']);
    expect(readdirSync(join(out, 'diffs')).sort()).toEqual(['m.20260102-0300__m.20260104-0300', 'm.20260104-0300__m.20260105-0300', 'other__other']);
    expect(readdirSync(join(out, 'model-store')).sort()).toEqual(['README', `${digest('b')}.onnx`, digest('d'), `${digest('e')}.onnx`]);

    // Through the command line, as the workflow runs it: the kept folders, oldest first.
    const printed = execFileSync('node', [script, 'prune', out, 'm', '2'], { encoding: 'utf8' });
    expect(printed).toBe(`${join(out, 'm.20260104-0300')}\n${join(out, 'm.20260105-0300')}\n`);
    expect(readFileSync(join(out, 'model-store', `${digest('b')}.onnx`), 'utf8')).toBe('b');
    expect(() => execFileSync('node', [script, 'prune', out, 'm', '0'], { stdio: 'pipe' })).toThrow(/keep: expected a whole number of versions, 1 or more/);
  });
});
