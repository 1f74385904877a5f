/**
 * Sharded builds end to end, real CLI processes on the real darknet-tiny (1 engine thread each, so
 * that shards and the one-process build share every record key):
 * - 3 shards run in parallel (one per way of naming a shard: --shard, FILTER_ATLAS_SHARD,
 *   FILTER_ATLAS_SHARDS + JOB_COMPLETION_INDEX), merged, give the atlas of one build: every file
 *   byte for byte, records and atlas.json equal but for timing fields;
 * - without one shard the atlas is incomplete and names the missing filters and the shard;
 * - a SIGKILLed shard resumes, and rerunning only it completes the atlas;
 * - shards of different weights are refused;
 * - a sharded build without a fixed thread count is refused before any work;
 * - an atlas of two methods (article and lucid) splits into units of both and merges to one build's.
 */
import { cp, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { shardManifestSchema, type ShardManifest } from '../../pipeline/atlas/shard-manifest.js';
import type { BuildSummary } from '../../pipeline/atlas/build.js';
import { CLI, cli, compareAtlases, filesUnder, isUserError, TINY } from '../faults/harness.js';

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-shards-'));
});

async function readAtlas(dir: string): Promise<Atlas> {
  return atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
}

async function readManifest(atlasDir: string, name: string): Promise<ShardManifest> {
  return shardManifestSchema.parse(JSON.parse(await readFile(join(atlasDir, 'shards', name), 'utf8')));
}

/** The filters each shard computes, by layer, from a manifest's assignment. */
function filtersOf(manifest: ShardManifest, shard: number): Array<{ layer: string; filters: number[] }> {
  const byLayer = new Map<string, number[]>();
  manifest.units.forEach((unit, i) => {
    if (unit.kind === 'batch' && manifest.assignment[i] === shard) byLayer.set(unit.layer, [...(byLayer.get(unit.layer) ?? []), ...unit.filters]);
  });
  return [...byLayer].map(([layer, filters]) => ({ layer, filters: filters.sort((a, b) => a - b) }));
}

describe('3 shards in parallel, then merge', () => {
  const shardOut = (k: number) => join(work, 'tiny-shards', String(k));
  let reference: string;

  beforeAll(async () => {
    const runs = await Promise.all([
      cli(['build', TINY, '--threads', '1', '--output', join(work, 'tiny-one')]),
      cli(['build', TINY, '--threads', '1', '--shard', '1/3', '--output', shardOut(1)]),
      cli(['build', TINY, '--threads', '1', '--output', shardOut(2)], { env: { FILTER_ATLAS_SHARD: '2/3' } }),
      cli(['build', TINY, '--threads', '1', '--output', shardOut(3)], { env: { FILTER_ATLAS_SHARDS: '3', JOB_COMPLETION_INDEX: '2' } }),
    ]);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    reference = join(work, 'tiny-one', 'tiny');
  });

  it('give the atlas of one build: every file byte for byte, atlas.json equal but for timing', async () => {
    // Shards write records, files and a manifest, never atlas.json.
    for (const k of [1, 2, 3]) expect((await filesUnder(join(shardOut(k), 'tiny'))).filter((f) => !f.startsWith('records/') && !f.startsWith('files/'))).toEqual([`shards/${k}-of-3.json`]);
    const merged = await cli(['merge', shardOut(1), shardOut(2), join(shardOut(3), 'tiny'), '--output', join(work, 'tiny-merged'), '--json']);
    expect(merged.code, merged.stderr).toBe(0);
    const summary = JSON.parse(merged.stdout.trim()) as { complete: boolean; filters: number; shards: string[] };
    expect(summary).toMatchObject({ complete: true, filters: 16, shards: ['1/3', '2/3', '3/3'] });

    const dir = join(work, 'tiny-merged', 'tiny');
    const comparison = await compareAtlases(reference, dir);
    expect(comparison.differences).toEqual([]);
    const atlas = await readAtlas(dir);
    expect(atlas.complete).toBe(true);
    expect(atlas.missing).toBeUndefined();
    const pngs = atlas.layers.flatMap((layer) => layer.filters.map((f) => f.image!));
    expect(pngs).toHaveLength(16);
    for (const png of pngs) expect((await readFile(join(dir, png))).equals(await readFile(join(reference, png))), png).toBe(true);

    // A second merge changes nothing, not even the date.
    const before = await readFile(join(dir, 'atlas.json'), 'utf8');
    const again = await cli(['merge', shardOut(1), shardOut(2), shardOut(3), '--output', join(work, 'tiny-merged')]);
    expect(again.code, again.stderr).toBe(0);
    expect(await readFile(join(dir, 'atlas.json'), 'utf8')).toBe(before);
  });

  it('without a shard give an incomplete atlas that names what is missing; with it, the whole atlas', async () => {
    const manifest = await readManifest(join(shardOut(1), 'tiny'), '1-of-3.json');
    // Leave out the shard with visualisations that does not run the dataset unit.
    const datasetShard = manifest.assignment[manifest.units.findIndex((u) => u.kind === 'dataset')];
    const left = [1, 2, 3].find((k) => k !== datasetShard && filtersOf(manifest, k).length > 0)!;
    const kept = [1, 2, 3].filter((k) => k !== left);
    const output = join(work, 'tiny-partial');
    // The left-out shard as a scheduler leaves it when its job never ran: a folder that does not exist.
    const neverRan = join(work, 'tiny-shards', 'never-ran');
    const partial = await cli(['merge', ...kept.map(shardOut), neverRan, '--output', output]);
    expect(partial.code, partial.stderr).toBe(0);
    expect(partial.stderr).toContain(`merge: no shard manifest in ${neverRan} (no such folder): its work will be reported missing`);
    expect(partial.stdout).toContain(`atlas tiny is incomplete: missing `);
    expect(partial.stdout).toContain(`Rerun shard ${left}/3`);

    const atlas = await readAtlas(join(output, 'tiny'));
    expect(atlas.complete).toBe(false);
    expect(atlas.missing).toEqual({ filters: filtersOf(manifest, left), dataset: false, probes: [], shards: [`${left}/3`] });
    for (const { layer, filters } of filtersOf(manifest, left)) {
      const present = atlas.layers.find((l) => l.name === layer)!.filters.map((f) => f.filter);
      for (const filter of filters) expect(present).not.toContain(filter);
    }

    const whole = await cli(['merge', ...[1, 2, 3].map(shardOut), '--output', output]);
    expect(whole.code, whole.stderr).toBe(0);
    expect((await compareAtlases(reference, join(output, 'tiny'))).differences).toEqual([]);
  });

  it('merge in place when the shards wrote into one shared folder', async () => {
    const shared = join(work, 'tiny-shared');
    for (const k of [1, 2, 3]) await cp(shardOut(k), shared, { recursive: true });
    const result = await cli(['merge', shared, '--output', shared, '--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout.trim())).toMatchObject({ complete: true, placed: 0, shards: ['1/3', '2/3', '3/3'] });
    const { differences } = await compareAtlases(reference, join(shared, 'tiny'));
    expect(differences.filter((d) => !d.startsWith('extra shards/'))).toEqual([]);
  });

  it('refuse a folder that no shard wrote', async () => {
    const result = await cli(['merge', join(work, 'tiny-one'), '--output', join(work, 'nothing')]);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain('received folders without shard manifests');
  });
});

const TWO_METHODS_CONFIG = `
atlas: two
model: darknet-tiny
seed: 3
method: [{ kind: article, startSize: 32, scales: 2, stepsPerScale: 3 }, { kind: lucid, size: 40, steps: 5 }]
layers:
  - layer: leaky_re_lu_6
    filters: "0-3"
  - layer: conv2d_16
    filters: "0-3"
batch: { size: 2 }
`;

describe('an atlas of two methods', () => {
  it('built in 2 shards and merged, is the atlas of one build: both pictures of every filter, byte for byte', async () => {
    const config = join(work, 'two.yaml');
    await writeFile(config, TWO_METHODS_CONFIG);
    const shard = (k: number) => join(work, 'two-shards', String(k));
    const runs = await Promise.all([
      cli(['build', config, '--threads', '1', '--output', join(work, 'two-one'), '--json']),
      cli(['build', config, '--threads', '1', '--shard', '1/2', '--output', shard(1)]),
      cli(['build', config, '--threads', '1', '--shard', '2/2', '--output', shard(2)]),
    ]);
    for (const run of runs) expect(run.code, run.stderr).toBe(0);
    // Units are per layer x method x batch (2 x 2 x 2), spread over both shards (no dataset unit here:
    // with one, its cost outweighs these short runs and it takes a shard to itself).
    const manifest = await readManifest(join(shard(1), 'two'), '1-of-2.json');
    const batches = manifest.units.flatMap((unit, i) => (unit.kind === 'batch' ? [{ method: unit.method, shard: manifest.assignment[i] }] : []));
    expect(batches).toHaveLength(8);
    expect(new Set(batches.map((b) => b.method))).toEqual(new Set([0, 1]));
    expect(new Set(batches.map((b) => b.shard))).toEqual(new Set([1, 2]));

    const merged = await cli(['merge', shard(1), shard(2), '--output', join(work, 'two-merged'), '--json']);
    expect(merged.code, merged.stderr).toBe(0);
    // Build and merge count 8 filters (2 layers x 4, as the site shows them) and 16 pictures, 8 per method.
    const built = JSON.parse(runs[0].stdout.trim().split('\n').pop()!) as BuildSummary;
    expect(built.counts.filters.total).toBe(8);
    expect(built.counts.pictures).toMatchObject({ total: 16, byMethod: { article: { total: 8 }, lucid: { total: 8 } } });
    expect(JSON.parse(merged.stdout.trim())).toMatchObject({ filters: 8, counts: built.counts });
    const reference = join(work, 'two-one', 'two');
    const dir = join(work, 'two-merged', 'two');
    expect((await compareAtlases(reference, dir)).differences).toEqual([]);
    const atlas = await readAtlas(dir);
    expect(atlas.complete).toBe(true);
    const pictures = atlas.layers.flatMap((layer) => layer.filters.flatMap((f) => [f.image!, ...(f.others ?? []).map((o) => o.image!)]));
    expect(pictures).toHaveLength(2 * 4 * 2);
    for (const png of pictures) expect((await readFile(join(dir, png))).equals(await readFile(join(reference, png))), png).toBe(true);
  });
});

const KILL_CONFIG = `
atlas: killed
model: darknet-tiny
seed: 2
layers:
  - layer: conv2d_16
    filters: "0-15"
method: { scales: 3, stepsPerScale: 8 }
batch: { size: 2 }
`;

async function vizRecords(dir: string): Promise<number> {
  // Finished records only: a write in flight is a `<record>.<pid>.<random>.tmp` file.
  return (await readdir(join(dir, 'records')).catch(() => [])).filter((name) => name.startsWith('viz-') && name.endsWith('.json')).length;
}

describe('a SIGKILLed shard', () => {
  it('resumes, and rerunning only that shard completes the atlas of one build', async () => {
    const config = join(work, 'killed.yaml');
    await writeFile(config, KILL_CONFIG);
    const shard = (k: number) => join(work, 'killed-shards', String(k));
    const one = cli(['build', config, '--threads', '1', '--output', join(work, 'killed-one')]);
    expect((await cli(['build', config, '--threads', '1', '--shard', '1/2', '--output', shard(1)])).code).toBe(0);

    const child = spawn(process.execPath, [CLI, 'build', config, '--threads', '1', '--shard', '2/2', '--output', shard(2)], { env: process.env, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    // Past its first batch of 2, short of its 4 batches.
    while ((await vizRecords(join(shard(2), 'killed'))) < 3) {
      if (child.exitCode !== null) throw new Error('the shard finished before it could be killed');
      await new Promise((r) => setTimeout(r, 50));
    }
    child.kill('SIGKILL');
    await exited;
    const atKill = await vizRecords(join(shard(2), 'killed'));
    expect(atKill).toBeLessThan(8);
    const manifest = await readManifest(join(shard(2), 'killed'), '2-of-2.json');
    expect(manifest.finished).toBe(false);

    const output = join(work, 'killed-merged');
    const partial = await cli(['merge', shard(1), shard(2), '--output', output, '--json']);
    expect(partial.code, partial.stderr).toBe(0);
    const missing = (await readAtlas(join(output, 'killed'))).missing!;
    expect(missing.shards).toEqual(['2/2']);
    const missed = missing.filters.flatMap((m) => m.filters);
    const ofShard2 = filtersOf(manifest, 2).flatMap((m) => m.filters);
    expect(missed.length).toBeGreaterThan(0);
    expect(missed.length).toBeLessThan(ofShard2.length);
    for (const filter of missed) expect(ofShard2).toContain(filter);

    const resumed = await cli(['build', config, '--threads', '1', '--shard', '2/2', '--output', shard(2), '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const summary = JSON.parse(resumed.stdout.trim()) as { filtersComputed: number; filtersReused: number };
    // Whole batches are reused; a batch cut by the kill is computed again in full.
    expect(summary.filtersReused).toBeGreaterThanOrEqual(2);
    expect(summary.filtersReused + summary.filtersComputed).toBe(8);
    expect(summary.filtersReused).toBe(8 - missed.length);

    expect((await cli(['merge', shard(1), shard(2), '--output', output])).code).toBe(0);
    expect((await one).code).toBe(0);
    expect((await compareAtlases(join(work, 'killed-one', 'killed'), join(output, 'killed'))).differences).toEqual([]);
  });
});

describe('shards of different builds', () => {
  it('are refused when their weights differ, and nothing is written', async () => {
    const dir = join(work, 'weights');
    const variant = async (name: string, seed: string) => {
      const result = await cli(['variant', 'darknet-tiny', '--output', join(dir, name), '--perturb', 'conv2d_3:0.5', '--seed', seed]);
      expect(result.code, result.stderr).toBe(0);
    };
    await variant('a', '1');
    await variant('b', '2');
    const config = join(dir, 'atlas.yaml');
    await writeFile(config, 'atlas: weights\nmodel: model\nlayers:\n  - layer: leaky_re_lu_2\n    filters: "0-3"\nmethod: { scales: 2, stepsPerScale: 2 }\nbatch: { size: 2 }\n');
    // The same config on two machines whose model folder holds different weights.
    await cp(join(dir, 'a'), join(dir, 'model'), { recursive: true });
    expect((await cli(['build', config, '--threads', '1', '--shard', '1/2', '--output', join(dir, 'shard1')])).code).toBe(0);
    await rm(join(dir, 'model'), { recursive: true });
    await cp(join(dir, 'b'), join(dir, 'model'), { recursive: true });
    expect((await cli(['build', config, '--threads', '1', '--shard', '2/2', '--output', join(dir, 'shard2')])).code).toBe(0);

    const result = await cli(['merge', join(dir, 'shard1'), join(dir, 'shard2'), '--output', join(dir, 'merged')]);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toMatch(/^filter-atlas: shard 2\/2 \(.*2-of-2\.json\): expected the model weights of shard 1\/2 \(.*1-of-2\.json\): sha256 [0-9a-f]{12}\.\.\., received other weights: sha256 [0-9a-f]{12}\.\.\. \(pictures of two models cannot form one atlas\)\. Rebuild shard 2\/2/);
    expect(await filesUnder(join(dir, 'merged'))).toEqual([]);
  });

  it('cannot start without one thread count for every shard', async () => {
    const result = await cli(['build', TINY, '--shard', '1/2', '--output', join(work, 'no-threads')]);
    expect(isUserError(result), result.stderr).toBe(true);
    expect(result.stderr).toContain('filter-atlas: --shard 1/2: expected a fixed engine thread count for a sharded build (--threads N, or threads: in the config), received none');
    const flag = await cli(['build', TINY, '--shard', '1/2', '--threads', '0']);
    expect(flag.stderr).toContain('filter-atlas: --threads: expected a whole number of engine threads from 1 to 256, received "0"');
  });
});
