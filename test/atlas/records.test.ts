/**
 * Keyed records on a real small build (darknet-tiny, one layer of 6 filters in batches of 2, 8
 * dataset photos, one probe): atlas.json lists a layer's filters while the layer is still running,
 * a record is reused only with every file it names and only when it parses, and each key holds
 * every input of its artifact.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { copyFile, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testBuildDeps } from './build-deps.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBuild, type BuildDeps, type BuildSummary } from '../../pipeline/atlas/build.js';
import { examplesKey, probeKey, scanKey, visualKey, type ProbeKeyParts, type ScanKeyParts, type VisualKeyParts } from '../../pipeline/atlas/keys.js';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { loadConfig, type Config } from '../../pipeline/config/load.js';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine } from '../../pipeline/engine/engine.js';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';
import { defaultLucidParams } from '../../pipeline/schema/lucid-params.js';


const CONFIG = (photo: string) => `
atlas: records
model: darknet-tiny
seed: 2
layers:
  - layer: leaky_re_lu_2
    filters: "0-5"
method: { scales: 2, stepsPerScale: 2 }
batch: { size: 2 }
dataset: { source: imagenet-sample, limit: 8, topK: 2, batchSize: 8 }
probes:
  - image: ${photo}
    layer: conv2d_16
    top: 3
`;

let work: string;

async function config(name: string, photo = 'photos/chelsea.png'): Promise<Config> {
  const file = join(work, `${name}.yaml`);
  await writeFile(file, CONFIG(photo));
  const loaded = await loadConfig(file);
  loaded.output = join(work, name);
  return loaded;
}

function deps(config: Config, wrapEngine: (engine: Engine) => Engine = (e) => e): BuildDeps {
  return testBuildDeps(config, { createEngine: async (model, options) => wrapEngine(await createEngine(model, options)) });
}

async function readAtlas(dir: string): Promise<Atlas> {
  return atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
}

/** Every file atlas.json names, checked to exist as a regular file. */
async function missingFiles(dir: string): Promise<string[]> {
  const atlas = await readAtlas(dir);
  const files = [
    ...atlas.layers.flatMap((l) => [l.datasetMeans, ...l.filters.flatMap((f) => [f.image, f.thumb, ...(f.web ? [f.web.full, f.web.thumb1x, f.web.thumb2x] : []), ...(f.top ?? []).flatMap((t) => [t.crop, t.thumb])])]),
    ...atlas.probes.flatMap((p) => [p.image, p.chart]),
  ].filter((f): f is string => f !== undefined);
  const missing: string[] = [];
  for (const file of files) if (!(await stat(join(dir, file)).catch(() => undefined))?.isFile()) missing.push(file);
  return missing;
}

/** Path -> inode and modification time of every file under a folder: a rewrite changes one of them. */
async function snapshot(root: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const entry of await readdir(root, { withFileTypes: true, recursive: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    const info = await stat(path);
    out.set(path, `${info.ino}:${info.mtimeMs}`);
  }
  return out;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-records-'));
});

describe('atlas.json during a build', () => {
  /**
   * The filters of the first layer in atlas.json at each gradient step of a build of 8 filters in
   * batches of 2 (-1: no atlas.json yet).
   */
  async function watchedBuild(name: string, atlasRefreshMs: number): Promise<number[]> {
    const file = join(work, `${name}.yaml`);
    await writeFile(file, CONFIG('photos/chelsea.png').replace('filters: "0-5"', 'filters: "0-7"'));
    const cfg = await loadConfig(file);
    cfg.output = join(work, name);
    const atlasFile = join(cfg.output!, cfg.atlas, 'atlas.json');
    const seen: number[] = [];
    // Each gradient step looks at atlas.json as a reader would at that moment.
    const watch = (engine: Engine): Engine => ({
      info: engine.info,
      forward: (batch, layers) => engine.forward(batch, layers),
      objectiveGradient: (batch, layer, weights) => {
        try {
          seen.push(atlasSchema.parse(JSON.parse(readFileSync(atlasFile, 'utf8'))).layers[0].filters.length);
        } catch {
          seen.push(-1); // not written yet
        }
        return engine.objectiveGradient(batch, layer, weights);
      },
      backward: (batch, layer, layerGradient) => engine.backward(batch, layer, layerGradient),
      attribution: (batch, layer, weights, from) => engine.attribution(batch, layer, weights, from),
      rowAttribution: (batch, layer, weights, from, rows) => engine.rowAttribution(batch, layer, weights, from, rows),
      dispose: () => engine.dispose(),
    });
    await runBuild(cfg, { ...deps(cfg, watch), atlasRefreshMs });
    return seen;
  }

  it('lists the finished filters of the layer that is still running', async () => {
    // Rewritten after every batch's records, which are written while the engine computes the next
    // batch: while batch k runs, batches 1 to k - 2 are in atlas.json for sure, k - 1 once written.
    const seen = new Set(await watchedBuild('partial', 0));
    for (const filters of [-1, 2, 4]) expect(seen.has(filters), `atlas.json with ${filters} filters seen`).toBe(true);
    expect([...seen].every((filters) => [-1, 2, 4, 6].includes(filters))).toBe(true);
  });

  it('is rewritten at most once per refresh interval while pictures are computed', async () => {
    // An hour apart: the first batch's atlas.json, then none until the end.
    expect(new Set(await watchedBuild('partial-hourly', 3_600_000))).toEqual(new Set([-1, 2]));
  });
});

describe('record reuse', () => {
  let cfg: Config;
  let dir: string;
  let first: BuildSummary;

  beforeAll(async () => {
    cfg = await config('reuse');
    dir = join(cfg.output!, cfg.atlas);
    first = await runBuild(cfg, deps(cfg));
  });

  it('recomputes what a deleted files/ folder held, so the atlas names no missing file', async () => {
    expect(first).toMatchObject({ filtersComputed: 6, datasetScanned: true, probesComputed: 1 });
    await rm(join(dir, 'files'), { recursive: true });
    const again = await runBuild(cfg, deps(cfg));
    expect(again).toMatchObject({ filtersComputed: 6, filtersReused: 0, datasetScanned: true, probesComputed: 1 });
    expect(await missingFiles(dir)).toEqual([]);
  });

  it('treats a truncated or foreign record as absent: recomputes its artifact and replaces it', async () => {
    const records = (await readdir(join(dir, 'records'))).sort();
    const viz = records.find((name) => name.startsWith('viz-'))!;
    const scan = records.find((name) => name.startsWith('scan-'))!;
    const probe = records.find((name) => name.startsWith('probe-'))!;
    const text = await readFile(join(dir, 'records', viz), 'utf8');
    await writeFile(join(dir, 'records', viz), text.slice(0, text.length >> 1));
    await writeFile(join(dir, 'records', scan), '{"key": 42}');
    await writeFile(join(dir, 'records', probe), '');
    const again = await runBuild(cfg, deps(cfg));
    // The batch of the damaged record (2 filters) is recomputed; the scan and the probe too.
    expect(again).toMatchObject({ filtersComputed: 2, filtersReused: 4, datasetScanned: true, probesComputed: 1 });
    expect(JSON.parse(await readFile(join(dir, 'records', viz), 'utf8'))).toMatchObject({ key: viz.replace(/\.json$/, '') });
    expect(await missingFiles(dir)).toEqual([]);
    const last = await runBuild(cfg, deps(cfg));
    expect(last).toMatchObject({ filtersComputed: 0, datasetScanned: false, probesComputed: 0 });
  });

  it('a rerun that changes nothing writes nothing (read-only storage can be checked), and removes a killed run\'s temporary files', async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const litter = join(dir, 'records', `viz-0.json.${dead}.0123abcd.tmp`);
    await writeFile(litter, '{"half');
    const before = await snapshot(dir);
    const again = await runBuild(cfg, deps(cfg));
    expect(again).toMatchObject({ filtersComputed: 0, datasetScanned: false, probesComputed: 0 });
    const after = await snapshot(dir);
    expect(after.has(litter)).toBe(false);
    before.delete(litter);
    expect(after).toEqual(before);
  });

  it("computes the probe again when only the photo's file name changes (the chart shows it)", async () => {
    const photos = await ensureAsset('photos');
    const renamed = join(work, 'renamed-cat.png');
    await copyFile(join(photos, 'chelsea.png'), renamed);
    const other = await config('reuse', renamed);
    const again = await runBuild(other, deps(other));
    expect(again).toMatchObject({ filtersComputed: 0, probesComputed: 1 });
    const atlas = await readAtlas(dir);
    expect(await readFile(join(dir, atlas.probes[0].chart), 'utf8')).toContain('renamed-cat.png');
  });
});

describe('devices', () => {
  it('records the device in atlas.json, and never reuses one device\'s records on another', async () => {
    const cfg = await config('devices');
    const dir = join(cfg.output!, cfg.atlas);
    const logged: string[] = [];
    const first = await runBuild(cfg, { ...deps(cfg), log: (line) => logged.push(line) });
    expect(first).toMatchObject({ filtersComputed: 6, datasetScanned: true, probesComputed: 1 });
    expect(logged[0]).toMatch(/^device auto: cpu \(/);
    expect((await readAtlas(dir)).engine).toEqual({ name: 'ort', device: expect.stringMatching(/^onnxruntime \S+ cpu, \d+ threads?$/), deviceKind: 'cpu' });
    // The same engine reporting another provider (what a GPU machine's engine says): nothing of the CPU's is reused.
    const onWebgpu = (engine: Engine): Engine => Object.assign(Object.create(engine) as Engine, { info: { ...engine.info, device: engine.info.device.replace(' cpu,', ' webgpu,'), deviceKind: 'webgpu' } });
    const second = await runBuild(cfg, deps(cfg, onWebgpu));
    expect(second).toMatchObject({ filtersComputed: 6, filtersReused: 0, datasetScanned: true, probesComputed: 1 });
    expect((await readAtlas(dir)).engine).toMatchObject({ device: expect.stringContaining(' webgpu, '), deviceKind: 'webgpu' });
    // Both devices' records stay: back on the CPU, everything is reused.
    const third = await runBuild(cfg, deps(cfg));
    expect(third).toMatchObject({ filtersComputed: 0, filtersReused: 6, datasetScanned: false, probesComputed: 0 });
  });
});

describe('content keys', () => {
  const engine = { name: 'ort' as const, device: 'onnxruntime 1.30.0 cpu, 2 threads', deviceKind: 'cpu' as const };
  const preprocessing = { inputSize: [224, 224], resize: 'stretch', scale: 1 / 255, mean: [0, 0, 0], std: [1, 1, 1], channelOrder: 'rgb' } as unknown as VisualKeyParts['preprocessing'];
  const params = methodParamsSchema.parse({});
  const changes = <T extends object>(key: (parts: T) => string, base: T, variants: Partial<T>[]): boolean[] =>
    variants.map((variant) => key({ ...base, ...variant }) !== key(base));

  it('the visualisation key holds what runs the maths (provider, backend, threads), not only the engine', () => {
    const base: VisualKeyParts = { weights: 'w', preprocessing, layer: 'l', filter: 1, batch: [0, 1], method: { kind: 'article', params }, seed: 0, engine };
    expect(changes(visualKey, base, [
      { engine: { ...engine, device: 'onnxruntime 1.30.0 cuda, 2 threads', deviceKind: 'cuda' } },
      { engine: { ...engine, device: 'onnxruntime 1.30.0 webgpu, 2 threads', deviceKind: 'webgpu' } },
      { engine: { ...engine, device: 'onnxruntime 1.30.0 cpu, 1 thread' } },
      { engine: { ...engine, name: 'tfjs' } },
      { batch: [1, 2] },
      { seed: 1 },
      { weights: 'v' },
      { method: { kind: 'lucid', params: defaultLucidParams } },
    ])).toEqual([true, true, true, true, true, true, true, true]);
  });

  it("keeps an article picture's key as it was before the lucid method existed, so existing records are reused as they are", () => {
    // The key the code before issue 16 (commit 2af1746, keys.ts without method kinds) gave these parts
    // (viz-f47bb921cd29acfa5b18 at code version 3), at the code version since (viz 4: pictures without
    // the 160 px thumbnail, keys.ts CODE_VERSIONS): the method kind adds nothing to an article key.
    const base: VisualKeyParts = { weights: 'w', preprocessing, layer: 'l', filter: 1, batch: [0, 1], method: { kind: 'article', params }, seed: 0, engine };
    expect(visualKey(base)).toBe('viz-ffa24d9c42440550254b');
  });

  it('the scan key holds the device too; the examples key follows the scan key', () => {
    const base: ScanKeyParts = { weights: 'w', preprocessing, dataset: 'd', layers: ['a', 'b'], topK: 9, engine };
    expect(changes(scanKey, base, [{ engine: { ...engine, device: 'tfjs 4.22.0 wasm (SIMD, 1 thread)' } }, { dataset: 'e' }, { topK: 4 }, { layers: ['b', 'a'] }]))
      .toEqual([true, true, true, false]);
    expect(examplesKey({ scan: scanKey(base), layer: 'a', filter: 0 })).not.toBe(examplesKey({ scan: scanKey({ ...base, topK: 4 }), layer: 'a', filter: 0 }));
  });

  it('the probe key holds everything the chart shows: model name, labels and photo file name', () => {
    const base: ProbeKeyParts = { model: 'darknet-tiny', labels: ['tench', 'goldfish'], weights: 'w', preprocessing, photo: 'p', photoName: 'cat.png', layer: 'l', top: 5, engine };
    expect(changes(probeKey, base, [
      { model: 'darknet-tiny-v2' },
      { labels: ['tench', 'carp'] },
      { labels: undefined },
      { photoName: 'dog.png' },
      { engine: { ...engine, device: 'onnxruntime 1.30.0 cuda, 2 threads' } },
    ])).toEqual([true, true, true, true, true]);
  });
});
