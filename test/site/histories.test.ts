/**
 * Loading histories for the site: history.json validated, each version's folder kept inside the
 * output folder, picture paths turned into paths of the version's atlas folder (never outside it).
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HISTORY_SCHEMA_VERSION, type AtlasHistory } from '../../pipeline/schema/history.js';
import { historyPageFiles, loadHistories } from '../../site/src/lib/histories.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fa-site-histories-'));
});
afterAll(async () => {
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

const version = (id: string, path: string) => ({ id, title: id, path, createdAt: '2026-12-01T00:00:00Z', model: { name: 'm', spec: 'm.onnx', version: '1', weightsDigest: 'ab'.repeat(32) } });
const point = (thumb: string) => ({ filter: 0, status: 'ok' as const, dead: false, thumb, datasetMean: 0 });

function history(paths: [string, string], thumb: string): AtlasHistory {
  return {
    schemaVersion: HISTORY_SCHEMA_VERSION,
    name: 'h',
    createdAt: '2026-12-07T00:00:00Z',
    versions: [version('v0', paths[0]), version('v1', paths[1])],
    dataset: { name: 'imagenet-sample', digest: 'cd'.repeat(32), images: 40 },
    scoring: { description: 'weighted mean', thresholds: { drifted: 0.1, changed: 0.3 } },
    steps: [{ from: 0, to: 1, omitted: [], warnings: [] }],
    layers: [{ name: 'conv', channels: 4, steps: [{ compared: 1, counts: { unchanged: 1, drifted: 0, changed: 0, died: 0, revived: 0, dead: 0 }, status: 'unchanged', permuted: false, meanScore: 0 }] }],
    filters: [{ layer: 'conv', units: [0, 0], points: [point(`../../v0/${thumb}`), point(`../../v1/${thumb}`)], steps: [{ score: 0, status: 'unchanged', correlation: 1 }], born: 0, revived: null, died: null, changed: null, maxScore: 0 }],
    seconds: 1,
  };
}

async function write(output: string, value: unknown): Promise<void> {
  await mkdir(join(output, 'histories', 'h'), { recursive: true });
  await writeFile(join(output, 'histories', 'h', 'history.json'), JSON.stringify(value));
}

describe('loadHistories', () => {
  it('reads a history and gives each version its atlas-relative picture paths', async () => {
    const output = join(tmp, 'ok');
    await write(output, history(['../../v0', '../../v1'], 'files/k/thumb.webp'));
    const [loaded] = await loadHistories(output, []);
    expect(loaded.slug).toBe('h');
    expect(loaded.versions.map((v) => v.dir)).toEqual([join(output, 'v0'), join(output, 'v1')]);
    expect(historyPageFiles(loaded, 1)).toEqual(['files/k/thumb.webp']);
  });

  it('refuses a version folder outside the output folder, and a picture outside its version', async () => {
    const outside = join(tmp, 'outside');
    await write(outside, history(['../../v0', '../../../elsewhere'], 'files/k/thumb.webp'));
    await expect(loadHistories(outside, [])).rejects.toThrow(/versions\.1\.path/);
    const escaping = join(tmp, 'escaping');
    await write(escaping, history(['../../v0', '../../v1'], '../../secret.webp'));
    await expect(loadHistories(escaping, [])).rejects.toThrow(/inside its atlas folder/);
  });

  it('a history of another schema version says how to rewrite it', async () => {
    const old = join(tmp, 'old');
    await write(old, { ...history(['../../v0', '../../v1'], 'x.webp'), schemaVersion: 99 });
    await expect(loadHistories(old, [])).rejects.toThrow(/filter-atlas history/);
  });
});
