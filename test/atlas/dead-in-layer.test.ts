/**
 * "Dead" relative to the layer, on a real model: darknet-tiny with batch_normalization_2's gamma and
 * beta times 1e-6, so leaky_re_lu_2 (leaky ReLU is positively homogeneous) computes exactly a
 * millionth of the original, a layer at the issue's MobileNetV3 scale (features.12/Add, ~1e-7). One
 * channel's gamma is 0: that filter is truly constant. The stage's absolute floor (1e-4) calls the
 * whole layer dead; the atlas calls dead only the filters whose pictures do not rise relative to the
 * layer: the constant one, and one whose picture ended below its start. A diff reads both "both dead".
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuild, type BuildSummary } from '../../pipeline/atlas/build.js';
import { visualRecordSchema, type VisualRecord } from '../../pipeline/atlas/records.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { runDiff } from '../../pipeline/diff/run.js';
import { formatDiffSummary } from '../../pipeline/diff/report.js';
import { createEngine } from '../../pipeline/engine/create.js';
import { loadModel } from '../../pipeline/model/load.js';
import { METADATA_KEY, type ModelMetadata } from '../../pipeline/model/metadata.js';
import { readTfjsWeights } from '../../pipeline/model/tfjs-weights.js';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { SHARD_NAME } from '../../pipeline/variants/create.js';
import { testBuildDeps } from './build-deps.js';

const SCALE = 1e-6;
const CONSTANT = 3;

/** darknet-tiny with leaky_re_lu_2 scaled by SCALE and channel CONSTANT made constant, as a tfjs layers folder. */
async function scaledDarknet(dir: string): Promise<string> {
  const base = await loadModel('darknet-tiny');
  const parsed = JSON.parse(await readFile(base.source.path, 'utf8')) as Record<string, unknown>;
  const weights = (await readTfjsWeights(parsed.weightsManifest, dirname(base.source.path), base.source.path)).tensors;
  for (const name of ['batch_normalization_2/gamma', 'batch_normalization_2/beta']) {
    const tensor = weights.get(name);
    if (!tensor) throw new Error(`darknet-tiny has no ${name}`);
    const data = Float32Array.from(tensor.data, (v) => v * SCALE);
    if (name.endsWith('gamma')) data[CONSTANT] = 0;
    weights.set(name, { ...tensor, data });
  }
  const values = new Float32Array([...weights.values()].reduce((n, t) => n + t.data.length, 0));
  let offset = 0;
  for (const tensor of weights.values()) {
    values.set(tensor.data, offset);
    offset += tensor.data.length;
  }
  await writeFile(join(dir, SHARD_NAME), Buffer.from(values.buffer));
  const manifest = [{ paths: [SHARD_NAME], weights: [...weights].map(([name, t]) => ({ name, shape: t.shape, dtype: 'float32' })) }];
  const file = join(dir, 'model.json');
  // The asset's preprocessing comes from its name; a folder by path carries it in its metadata, as `filter-atlas variant` writes it.
  const metadata: ModelMetadata = { name: 'darknet-tiny, leaky_re_lu_2 x1e-6', preprocessing: base.preprocessing };
  await writeFile(file, JSON.stringify({ ...parsed, weightsManifest: manifest, userDefinedMetadata: { [METADATA_KEY]: metadata } }));
  return file;
}

async function build(work: string, name: string, model: string, dataset = false): Promise<{ atlas: Atlas; summary: BuildSummary; dir: string }> {
  const file = join(work, `${name}.yaml`);
  await writeFile(
    file,
    `atlas: ${name}\nmodel: ${JSON.stringify(model)}\nseed: 0\nmethod: { startSize: 32, scales: 2, stepsPerScale: 4 }\n` +
      `layers:\n  - layer: leaky_re_lu_2\n    filters: "0-7"\nbatch: { size: 8 }\n` +
      (dataset ? 'dataset: { source: imagenet-sample, limit: 8, topK: 2, batchSize: 8 }\n' : ''),
  );
  const config = await loadConfig(file);
  config.output = join(work, 'out');
  const summary = await runBuild(config, testBuildDeps(config));
  const dir = join(work, 'out', name);
  return { atlas: atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8'))), summary, dir };
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-dead-'));
});
afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

describe('dead relative to the layer, on darknet-tiny with leaky_re_lu_2 at a millionth of its scale', () => {
  it('keeps the small-scale filters alive and the constant filter dead', async () => {
    const scaledFile = await scaledDarknet(work);
    const scaled = await build(work, 'scaled', scaledFile, true);
    const original = await build(work, 'original', 'darknet-tiny');
    const [layer] = scaled.atlas.layers;
    const [reference] = original.atlas.layers;

    // The layer really is tiny: every objective below 1e-4, where the absolute floor sat.
    expect(Math.max(...layer.filters.map((f) => Math.abs(f.activation)))).toBeLessThan(1e-4);
    // The stage's own verdict, as its records keep it: every filter dead under the absolute floor.
    const records = new Map<number, VisualRecord>();
    for (const filter of layer.filters) {
      const record = visualRecordSchema.parse(JSON.parse(await readFile(join(scaled.dir, 'records', `${filter.key}.json`), 'utf8')));
      expect(record.status).toBe('dead');
      records.set(filter.filter, record);
    }
    // The atlas's verdict. Dead: the constant filter (its picture rises by exactly 0), and filter 1,
    // whose shown picture ended below its start noise (measured: 4.12e-6 from 4.70e-6; Adam's epsilon
    // of 1e-8 slows the ascent at this scale). Alive: the six whose pictures rose, by 6.6 % to 177 % of
    // their start (measured), as all eight of the unscaled model did.
    expect(reference.filters.map((f) => f.status)).toEqual(Array(8).fill('ok'));
    expect(layer.filters.filter((f) => f.status === 'dead').map((f) => f.filter)).toEqual([1, CONSTANT]);
    expect(records.get(CONSTANT)!.activation).toBe(records.get(CONSTANT)!.startActivation);
    expect(records.get(1)!.activation).toBeLessThan(records.get(1)!.startActivation);
    for (const filter of layer.filters) {
      expect(filter.flags.dead).toBe(filter.status === 'dead');
      const { activation, startActivation } = records.get(filter.filter)!;
      if (filter.status === 'ok') expect(activation - startActivation).toBeGreaterThan(0.05 * Math.abs(startActivation));
    }
    // The summary counts what atlas.json says.
    expect(scaled.summary.counts.filters).toMatchObject({ total: 8, dead: 2 });

    // A diff of the atlas against itself: the two dead filters read "both dead" with score 0, not a
    // score of two flat pictures; the constant one is constant over the dataset too, filter 1 is not.
    const diff = await runDiff({ a: scaled.dir, b: scaled.dir, out: join(work, 'diff') }, { loadModel, createEngine, log: () => {}, now: () => new Date('2026-12-01T00:00:00Z') });
    const byUnit = new Map(diff.filters.map((f) => [f.a.filter, f]));
    expect(byUnit.get(CONSTANT)).toMatchObject({ status: 'dead', score: 0, a: { dead: true, datasetStd: 0 } });
    expect(byUnit.get(1)).toMatchObject({ status: 'dead', score: 0, a: { dead: false, status: 'dead' } });
    expect(byUnit.get(1)!.a.datasetStd).toBeGreaterThan(0);
    expect(diff.summary).toMatchObject({ dead: 2, unchanged: 6, changed: 0, total: 8 });
    expect(formatDiffSummary(diff)).toContain('8 units: 6 unchanged, 0 drifted, 0 changed, 0 died, 0 revived, 2 both dead');
  });
});
