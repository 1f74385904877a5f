/**
 * `build --model/--atlas/--title/--strict` and `merge --strict`, the real CLI on a small darknet-tiny
 * config (one layer, 6 filters, a 2-scale schedule, no dataset):
 * - --model with other weights (darknet-tiny with one NaN weight) writes other records, into the
 *   atlas --atlas names, titled --title; the summary counts its failed filter, and the build exits 0;
 * - with --strict the same build exits 1, naming the failed picture and --strict, after the summary;
 *   a build without failures exits 0 with --strict;
 * - a wrong flag value is refused before the build, naming the flag;
 * - merge of a shard without the other exits 0, with --strict 1 (naming what is missing and the shard
 *   to rerun); of both shards, 0 with --strict.
 */
import { cp, mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { countAtlas } from '../../pipeline/atlas/counts.js';
import { ranges } from '../../pipeline/atlas/missing.js';
import type { BuildSummary } from '../../pipeline/atlas/build.js';
import type { MergeSummary } from '../../pipeline/atlas/merge.js';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { cli, isUserError } from '../faults/harness.js';

let work: string;
let config: string;
let nanModel: string;

async function readAtlas(dir: string): Promise<Atlas> {
  return atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
}

const lastLine = (text: string) => text.trim().split('\n').pop()!;
const keys = (atlas: Atlas) => atlas.layers.flatMap((layer) => layer.filters.map((f) => f.key));

/** darknet-tiny with batch_normalization_2's gamma of channel 3 set to NaN: leaky_re_lu_2's filter 3 fails (test/faults/inputs.test.ts). */
async function nanWeights(dir: string): Promise<string> {
  await cp(await ensureAsset('darknet-tiny'), dir, { recursive: true });
  const manifest = (JSON.parse(await readFile(join(dir, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { name: string; shape: number[] }[] }[] }).weightsManifest;
  const group = manifest.find((g) => g.weights.some((w) => w.name === 'batch_normalization_2/gamma'))!;
  let offset = 0;
  for (const weight of group.weights) {
    if (weight.name === 'batch_normalization_2/gamma') break;
    offset += weight.shape.reduce((a, b) => a * b, 1) * 4;
  }
  const shard = join(dir, group.paths[0]);
  const bytes = await readFile(shard);
  bytes.writeFloatLE(Number.NaN, offset + 3 * 4);
  await writeFile(shard, bytes);
  return join(dir, 'model.json');
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-flags-'));
  config = join(work, 'flags.yaml');
  await writeFile(config, 'atlas: flags\ntitle: Flags\nmodel: darknet-tiny\nlayers:\n  - layer: leaky_re_lu_2\n    filters: "0-5"\nmethod: { scales: 2, stepsPerScale: 2 }\nbatch: { size: 3 }\n');
  nanModel = await nanWeights(join(work, 'nan-model'));
});

describe('build --model --atlas --title --strict', () => {
  it('builds another model into another atlas with other records; --strict turns its failed filter into exit status 1', async () => {
    const output = join(work, 'out');
    const plain = await cli(['build', config, '--output', output, '--threads', '1', '--json', '--strict']);
    expect(plain.code, plain.stderr).toBe(0);
    const plainSummary = JSON.parse(lastLine(plain.stdout)) as BuildSummary;
    expect(plainSummary.counts.filters.total).toBe(6);
    expect(plainSummary.counts.failed).toEqual([]);
    const plainAtlas = await readAtlas(join(output, 'flags'));
    expect(plainAtlas).toMatchObject({ id: 'flags', title: 'Flags', model: { spec: 'darknet-tiny' } });

    const flags = ['--model', nanModel, '--atlas', 'flags-nan', '--title', 'NaN weights'];
    const other = await cli(['build', config, ...flags, '--output', output, '--threads', '1', '--json']);
    expect(other.code, other.stderr).toBe(0);
    const summary = JSON.parse(lastLine(other.stdout)) as BuildSummary;
    expect(summary).toMatchObject({ atlasDir: join(output, 'flags-nan'), filtersComputed: 6, filtersReused: 0 });
    const atlas = await readAtlas(join(output, 'flags-nan'));
    expect(atlas).toMatchObject({ id: 'flags-nan', title: 'NaN weights', model: { spec: nanModel } });
    expect(atlas.model.weightsDigest).not.toBe(plainAtlas.model.weightsDigest);
    // Other weights, other records: no key is shared with the built-in model's atlas.
    expect(keys(atlas).filter((key) => keys(plainAtlas).includes(key))).toEqual([]);
    // The summary counts what atlas.json holds: 6 filters, filter 3 among the failed (measured: the NaN reaches all 6 here).
    expect(summary.counts).toEqual(countAtlas(atlas));
    expect(summary.counts.filters.total).toBe(6);
    const failed = summary.counts.failed[0].filters;
    expect(summary.counts.failed).toEqual([{ layer: 'leaky_re_lu_2', method: 'article', filters: expect.arrayContaining([3]) }]);
    expect(summary.counts.filters.failed).toBe(failed.length);
    expect(atlas.layers[0].filters.filter((f) => f.status === 'failed').map((f) => f.filter)).toEqual(failed);

    const strict = await cli(['build', config, ...flags, '--output', output, '--threads', '1', '--strict']);
    expect(isUserError(strict), strict.stderr).toBe(true);
    // The summary first (everything reused), then the error.
    expect(strict.stdout).toMatch(new RegExp(`^atlas written to .*: 6 filters \\(\\d ok, \\d flagged, \\d dead, ${failed.length} failed\\), 6 pictures \\(6 article; .*\\): 0 computed, 6 reused`));
    const n = failed.length;
    expect(strict.stderr).toContain(
      `filter-atlas: --strict: expected every filter's pictures drawn (none failed), received atlas flags-nan: ${n} failed picture${n === 1 ? '' : 's'}: ${n} of leaky_re_lu_2 by article (${ranges(failed)}). ` +
        '--strict made this an error (without it the command exits 0); atlas.json is written, with those pictures marked failed.',
    );
  });

  it('refuses a wrong flag value before building, naming the flag', async () => {
    const output = join(work, 'refused');
    const reserved = await cli(['build', config, '--atlas', 'diffs', '--output', output]);
    expect(isUserError(reserved), reserved.stderr).toBe(true);
    expect(reserved.stderr).toContain('filter-atlas: --atlas: expected an atlas id other than "diffs", "histories", "model-store", received "diffs".');
    const model = await cli(['build', config, '--model', 'darknet-tine', '--output', output]);
    expect(isUserError(model), model.stderr).toBe(true);
    expect(model.stderr).toContain('filter-atlas: --model: expected a built-in model');
    expect(model.stderr).toContain('Did you mean "darknet-tiny"?');
    expect(await readdir(output).catch(() => [])).toEqual([]);
  });
});

describe('merge --strict', () => {
  it('exits 1 for an incomplete atlas, naming what is missing, the shard to rerun and --strict; 0 once complete', async () => {
    const shard = (k: number) => join(work, 'shards', String(k));
    const built = await Promise.all([1, 2].map((k) => cli(['build', config, '--shard', `${k}/2`, '--threads', '1', '--output', shard(k)])));
    for (const run of built) expect(run.code, run.stderr).toBe(0);
    expect(built[0].stdout).toMatch(/^shard 1\/2 written to .*: \d filters \(.*\), \d pictures \(\d article; .*\): \d computed, 0 reused/);
    // Shard 1 merged alone: shard 2's units are missing.
    const alone = 1;
    const output = join(work, 'merged');

    const lenient = await cli(['merge', shard(alone), '--output', output, '--json']);
    expect(lenient.code, lenient.stderr).toBe(0);
    const partial = JSON.parse(lastLine(lenient.stdout)) as MergeSummary;
    expect(partial.complete).toBe(false);
    expect(partial.filters).toBe(partial.counts.filters.total);

    const strict = await cli(['merge', shard(alone), '--output', output, '--strict']);
    expect(isUserError(strict), strict.stderr).toBe(true);
    expect(strict.stdout).toContain('atlas flags is incomplete: missing ');
    expect(strict.stderr).toMatch(
      /^filter-atlas: --strict: expected complete atlases with every filter's pictures drawn \(none failed\), received atlas flags is incomplete: missing .+ \(rerun shard [12]\/2\)\. --strict made this an error \(without it the command exits 0\); atlas\.json is written, marked incomplete/m,
    );

    const whole = await cli(['merge', shard(1), shard(2), '--output', output, '--strict', '--json']);
    expect(whole.code, whole.stderr).toBe(0);
    expect(JSON.parse(lastLine(whole.stdout))).toMatchObject({ complete: true, filters: 6, counts: { filters: { total: 6, failed: 0 }, pictures: { total: 6 } } });
  });
});
