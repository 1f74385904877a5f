/**
 * The pieces of a sharded build that need no model: which shard a process is (flag, environment,
 * Kubernetes Indexed Job), the units of work and their assignment by cost, the file checks of
 * merge, and the refusal to merge shards of different builds (messages checked by their text).
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FilterAtlasError } from '../../pipeline/errors.js';
import { describeMissing, ranges } from '../../pipeline/atlas/missing.js';
import { checkSameBuild, type ManifestFile, type ShardManifest } from '../../pipeline/atlas/shard-manifest.js';
import { parseShard, resolveShard } from '../../pipeline/atlas/shard-spec.js';
import { fileProblem } from '../../pipeline/atlas/verify-files.js';
import { assignShards, CONNECTION_VALUE_WEIGHT, datasetCost, EXAMPLE_COST, SCAN_VALUE_WEIGHT, shardLoads, workUnits } from '../../pipeline/atlas/work-units.js';
import { createRandom } from '../../pipeline/util/random.js';
import { chunk } from '../../pipeline/visualize/sweep.js';

describe('which shard', () => {
  it('reads K/N from --shard, then FILTER_ATLAS_SHARD, then FILTER_ATLAS_SHARDS with JOB_COMPLETION_INDEX', () => {
    expect(resolveShard('2/4', { FILTER_ATLAS_SHARD: '1/4' })).toEqual({ index: 2, count: 4 });
    expect(resolveShard(undefined, { FILTER_ATLAS_SHARD: ' 3 / 4 ' })).toEqual({ index: 3, count: 4 });
    // Kubernetes: 0-based JOB_COMPLETION_INDEX, the count written in the manifest.
    expect(resolveShard(undefined, { FILTER_ATLAS_SHARDS: '4', JOB_COMPLETION_INDEX: '0' })).toEqual({ index: 1, count: 4 });
    expect(resolveShard(undefined, { FILTER_ATLAS_SHARDS: '4', JOB_COMPLETION_INDEX: '3' })).toEqual({ index: 4, count: 4 });
    // An Indexed Job that runs plain builds is not sharded by its index alone.
    expect(resolveShard(undefined, { JOB_COMPLETION_INDEX: '2' })).toBeUndefined();
    expect(resolveShard(undefined, {})).toBeUndefined();
    expect(parseShard('1/1', '--shard')).toEqual({ index: 1, count: 1 });
  });

  it('refuses what is not a shard of N, saying so against the flag or variable', () => {
    expect(() => parseShard('0/3', '--shard')).toThrow(
      '--shard: expected K/N with 1 <= K <= N <= 10000 (shard K of N, counted from 1, e.g. 2/4), received "0/3". Shards count from 1; for a 0-based index (Kubernetes JOB_COMPLETION_INDEX), set FILTER_ATLAS_SHARDS=N instead.',
    );
    for (const text of ['4/3', '1/0', 'a/b', '2', '1/3/4', '-1/3', '1.5/3']) expect(() => parseShard(text, '--shard'), text).toThrow(FilterAtlasError);
    expect(() => resolveShard(undefined, { FILTER_ATLAS_SHARD: '5/4' })).toThrow(/^FILTER_ATLAS_SHARD: expected K\/N/);
    expect(() => resolveShard(undefined, { FILTER_ATLAS_SHARDS: '4' })).toThrow(
      'JOB_COMPLETION_INDEX: expected the 0-based index of this pod, 0 to 3 (FILTER_ATLAS_SHARDS is 4), received nothing (the variable is not set). FILTER_ATLAS_SHARDS is meant for a Kubernetes Indexed Job (completionMode: Indexed), which sets JOB_COMPLETION_INDEX; elsewhere use --shard K/N.',
    );
    expect(() => resolveShard(undefined, { FILTER_ATLAS_SHARDS: '4', JOB_COMPLETION_INDEX: '4' })).toThrow(/^JOB_COMPLETION_INDEX: expected the 0-based index/);
    expect(() => resolveShard(undefined, { FILTER_ATLAS_SHARDS: 'four', JOB_COMPLETION_INDEX: '0' })).toThrow(/^FILTER_ATLAS_SHARDS: expected the number of shards/);
  });
});

describe('units of work', () => {
  const layers = [
    { name: 'early', method: 0, filters: [...Array(10).keys()], batchSize: 4, filterCost: 1_000 },
    { name: 'late', method: 0, filters: [0, 5, 9], batchSize: 2, filterCost: 6_500 },
  ];

  it('are the batches an unsharded build cuts, layer by layer, then the dataset', () => {
    const units = workUnits(layers, 42_000);
    expect(units.map((u) => (u.kind === 'batch' ? [u.layer, u.batch, u.filters] : ['dataset']))).toEqual([
      ['early', 0, [0, 1, 2, 3]],
      ['early', 1, [4, 5, 6, 7]],
      ['early', 2, [8, 9]],
      ['late', 0, [0, 5]],
      ['late', 1, [9]],
      ['dataset'],
    ]);
    for (const layer of layers) {
      expect(units.filter((u) => u.kind === 'batch' && u.layer === layer.name).map((u) => (u.kind === 'batch' ? u.filters : []))).toEqual(chunk(layer.filters, layer.batchSize));
    }
    expect(units.map((u) => u.cost)).toEqual([4_000, 4_000, 2_000, 13_000, 6_500, 42_000]);
    expect(workUnits(layers, undefined).some((u) => u.kind === 'dataset')).toBe(false);
  });

  it('go to shards by cost, not by count', () => {
    // One expensive unit and ten cheap ones: by count, 6 and 5 units (loads 15 and 5); by cost, 10 and 10.
    const units = [{ cost: 10 }, ...Array.from({ length: 10 }, () => ({ cost: 1 }))];
    const assignment = assignShards(units, 2);
    expect(shardLoads(units, assignment, 2)).toEqual([10, 10]);
    expect(assignment[0]).toBe(1);
    expect(assignment.slice(1).every((shard) => shard === 2)).toBe(true);
  });

  it("weigh the dataset unit's scan, crops and connected filters, each by its measured rate", () => {
    // The default atlas: 1000 photos, 1416 filters x 9 top images, 3 probes + the probe model's check,
    // and its connected filters (the class layer's 1000 filters x 9 passes dominate them).
    const work = { images: 1000, forwardValues: 9.08e6, examples: 1416 * 9, probes: 4, connectionValues: 0 };
    const scanAndCrops = datasetCost(work);
    expect(scanAndCrops).toBe(Math.round(SCAN_VALUE_WEIGHT * 1004 * 9.08e6 + EXAMPLE_COST * 1416 * 9));
    const connections = 1000 * 9 * 9.08e6;
    expect(datasetCost({ ...work, connectionValues: connections })).toBe(Math.round(scanAndCrops + CONNECTION_VALUE_WEIGHT * connections));
    // Measured (README "Sharded builds"): the connected filters took longer than scan and crops together.
    expect(CONNECTION_VALUE_WEIGHT * connections).toBeGreaterThan(scanAndCrops);
  });

  it('assign every unit exactly once, the same way every time, within one unit of the mean', () => {
    const random = createRandom(5);
    for (let trial = 0; trial < 200; trial++) {
      const units = Array.from({ length: 1 + Math.floor(random.next() * 60) }, () => ({ cost: 1 + Math.floor(random.next() * 1e9) }));
      const count = 1 + Math.floor(random.next() * 12);
      const assignment = assignShards(units, count);
      expect(assignShards(units, count)).toEqual(assignment);
      expect(assignment).toHaveLength(units.length);
      expect(assignment.every((shard) => Number.isInteger(shard) && shard >= 1 && shard <= count)).toBe(true);
      const loads = shardLoads(units, assignment, count);
      const total = units.reduce((sum, u) => sum + u.cost, 0);
      expect(loads.reduce((a, b) => a + b, 0)).toBe(total);
      expect(Math.max(...loads)).toBeLessThanOrEqual(total / count + Math.max(...units.map((u) => u.cost)));
    }
    // More shards than units: the rest get nothing, nobody gets two.
    expect(assignShards([{ cost: 3 }, { cost: 2 }], 4)).toEqual([1, 2]);
  });
});

describe('merge file checks', () => {
  it('catch files cut short, empty, mislabelled or of the wrong length', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filter-atlas-verify-'));
    const sharp = (await import('sharp')).default;
    const png = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).png().toBuffer();
    const webp = await sharp({ create: { width: 8, height: 8, channels: 3, background: '#808080' } }).webp().toBuffer();
    const files: Record<string, Buffer | string> = {
      'ok.png': png,
      'cut.png': png.subarray(0, png.length - 5),
      'html.png': '<html>404</html>',
      'empty.webp': '',
      'ok.webp': webp,
      'cut.webp': webp.subarray(0, webp.length - 3),
      'ok.svg': '<svg xmlns="http://www.w3.org/2000/svg"></svg>\n',
      'cut.svg': '<svg xmlns="http://www.w3.org/2000/svg"><rect',
      'ok.f32': Buffer.alloc(24),
    };
    for (const [name, bytes] of Object.entries(files)) await writeFile(join(dir, name), bytes);
    const problem = (name: string, bytes?: number) => fileProblem(join(dir, name), { bytes });
    expect(await problem('ok.png')).toBeUndefined();
    expect(await problem('ok.webp')).toBeUndefined();
    expect(await problem('ok.svg')).toBeUndefined();
    expect(await problem('ok.f32', 24)).toBeUndefined();
    expect(await problem('cut.png')).toBe('a PNG cut short (no IEND chunk at its end)');
    expect(await problem('html.png')).toBe('not a PNG (no PNG signature)');
    expect(await problem('empty.webp')).toBe('empty');
    expect(await problem('cut.webp')).toMatch(/^a WebP of \d+ bytes whose header says \d+$/);
    expect(await problem('cut.svg')).toBe('an SVG cut short (no closing </svg>)');
    expect(await problem('ok.f32', 28)).toBe('24 bytes, expected 28');
    expect(await problem('absent.png')).toBe('missing');
    expect(await fileProblem(dir)).toBe('not a regular file');
  });
});

describe('what is missing, in words', () => {
  it('names the filters as ranges, the dataset and the probes', () => {
    expect(ranges([0, 1, 2, 3, 8, 10, 11])).toBe('0-3, 8, 10-11');
    expect(describeMissing({ filters: [{ layer: 'conv2d_16', filters: [1, 2, 3, 4] }, { layer: 'leaky_re_lu_2', filters: [7] }], dataset: true, probes: ['photos/chelsea.png at conv2d_16'], shards: ['1/3', '2/3'] })).toBe(
      '4 filters of conv2d_16 (1-4); 1 filter of leaky_re_lu_2 (7); the dataset scan and examples; probe photos/chelsea.png at conv2d_16',
    );
  });
});

describe('shards of one build', () => {
  const base: ShardManifest = {
    format: 1,
    atlas: 'tiny',
    shard: { index: 1, count: 2 },
    codeVersion: '0.1.0+abc',
    weightsDigest: 'a'.repeat(64),
    device: 'onnxruntime 1.30.0 cpu, 1 thread',
    configDigest: 'c1',
    config: { layers: ['x'], method: { scales: 3 }, seed: 7 },
    frame: {
      schemaVersion: 1,
      id: 'tiny',
      title: 't',
      model: { name: 'm', spec: 'm', version: 'v', format: 'f', weightsDigest: 'a'.repeat(64), inputSize: [224, 224] },
      engine: { name: 'ort', device: 'onnxruntime 1.30.0 cpu, 1 thread' },
      method: { description: 'd', params: {} },
      layers: [],
    },
    units: [{ kind: 'batch', layer: 'x', method: 0, batch: 0, filters: [0], keys: ['viz-1'], cost: 1 }],
    assignment: [1],
    finished: true,
  };
  const entry = (changes: Partial<ShardManifest>, index = 2): ManifestFile => ({
    file: `/shards/${index}/tiny/shards/${index}-of-2.json`,
    dir: `/shards/${index}/tiny`,
    manifest: { ...base, shard: { index, count: 2 }, ...changes },
  });
  const first = entry({}, 1);

  it('pass when code, weights, engine device and config agree', () => {
    expect(() => checkSameBuild([first, entry({})], base.codeVersion)).not.toThrow();
  });

  it('are refused when the weights differ, naming both shards and what to do', () => {
    expect(() => checkSameBuild([first, entry({ weightsDigest: 'b'.repeat(64) })], base.codeVersion)).toThrow(
      'shard 2/2 (/shards/2/tiny/shards/2-of-2.json): expected the model weights of shard 1/2 (/shards/1/tiny/shards/1-of-2.json): sha256 aaaaaaaaaaaa..., received other weights: sha256 bbbbbbbbbbbb... (pictures of two models cannot form one atlas). Rebuild shard 2/2 the way the others were built (finished records whose keys did not change are reused), or leave its folder out.',
    );
  });

  it('are refused when the engine device (thread count) differs', () => {
    expect(() => checkSameBuild([first, entry({ device: 'onnxruntime 1.30.0 cpu, 2 threads' })], base.codeVersion)).toThrow(
      /expected the engine device of shard 1\/2 .*: "onnxruntime 1\.30\.0 cpu, 1 thread", received "onnxruntime 1\.30\.0 cpu, 2 threads" .* Give every shard the same --threads/,
    );
  });

  it('are refused when the config differs, naming the fields', () => {
    expect(() => checkSameBuild([first, entry({ configDigest: 'c2', config: { layers: ['x'], method: { scales: 4 }, seed: 8 } })], base.codeVersion)).toThrow(
      /expected the config of shard 1\/2 .*, received a config that differs in method, seed\./,
    );
  });

  it('are refused when the code differs, from each other or from the merging code', () => {
    expect(() => checkSameBuild([first, entry({ codeVersion: '0.1.0+def' })], base.codeVersion)).toThrow(/shard 2\/2 .*expected a shard built by this filter-atlas \(code version 0\.1\.0\+abc\)/);
    expect(() => checkSameBuild([first], '0.2.0+fff')).toThrow(/received one built by code version 0\.1\.0\+abc\. Run merge from the checkout or container image that built the shards/);
  });
});
