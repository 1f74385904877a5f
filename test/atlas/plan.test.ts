/**
 * `plan`'s estimate (atlas/plan.ts) for config/default.yaml on the real darknet-tiny graph: the
 * filters per layer, GFLOP per stage, and seconds from what the machine measured (timings.ts): an
 * atlas's own last build first, else the longest build of another atlas, else the peak as a lower
 * bound, else nothing invented. Also how a build's figures are merged into the cache.
 */
import { resolve } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { planLayers } from '../../pipeline/atlas/build.js';
import type { LayerPlan } from '../../pipeline/atlas/layer-plan.js';
import { planBuild, planLine } from '../../pipeline/atlas/plan.js';
import { withRun, type MachineTimings, type StageFigures } from '../../pipeline/atlas/timings.js';
import { loadConfig, type Config } from '../../pipeline/config/load.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';

let config: Config;
let model: CnnModel;
let layers: LayerPlan[];
const machine = { cpu: 'test cpu', threads: 2 };
const empty: MachineTimings = { version: 1, ...machine, runs: {} };

beforeAll(async () => {
  config = await loadConfig(resolve('config/default.yaml'));
  model = await loadModel(config.model, {});
  layers = planLayers(config, model);
});

const stage = (name: StageFigures['name'], seconds: number, items: number, gflop?: number): StageFigures => ({ name, seconds, engineSeconds: seconds / 2, items, ...(gflop !== undefined ? { gflop } : {}) });
const plan = (timings: MachineTimings) => planBuild({ config, model, layers, datasetImages: 1000, machine, timings, deviceKind: 'cpu' });

describe('planBuild on config/default.yaml', () => {
  it('lists the filters per layer and the GFLOP per stage, and invents no time without measurements', () => {
    const p = plan(empty);
    expect(p.layers.map((l) => [l.name, l.filters, l.methods[0].batchSize])).toEqual([
      ['leaky_re_lu_2', 32, 16],
      ['leaky_re_lu_6', 128, 16],
      ['leaky_re_lu_10', 256, 16],
      ['conv2d_16', 1000, 16],
    ]);
    expect(p.stages.map((s) => s.name)).toEqual(['filters', 'web images', 'dataset scan', 'dataset examples', 'connections', 'probes']);
    const gflop = Object.fromEntries(p.stages.map((s) => [s.name, s.gflop]));
    // The figures from --verbose placement lines: ~41 TFLOP of visualisations, ~1 TFLOP of scan.
    expect(gflop.filters).toBeGreaterThan(39_000);
    expect(gflop.filters).toBeLessThan(43_000);
    expect(gflop['dataset scan']).toBeGreaterThan(900);
    expect(gflop['dataset scan']).toBeLessThan(1100);
    expect(gflop.connections).toBeGreaterThan(0);
    expect(gflop['web images']).toBe(0);
    expect(p.seconds).toBeUndefined();
    expect(p.stages.filter((s) => s.items > 0).every((s) => s.seconds === undefined)).toBe(true);
    expect(planLine(p)).toMatch(/not measured on this machine .*bench -- --peak/);
  });

  it('estimates from the atlas\'s own last build: GFLOP at its achieved GFLOP/s, other stages per item', () => {
    const timings = withRun(empty, 'ort cpu', {
      atlas: 'darknet-tiny',
      at: '2026-12-01T00:00:00Z',
      stages: [stage('filters', 400, 1416, 40_000), stage('web images', 20, 1416), stage('dataset scan', 30, 1000, 1000), stage('dataset examples', 50, 1416), stage('connections', 60, 12456, 6000), stage('probes', 2, 4, 4)],
    });
    const p = plan(timings);
    const filters = p.stages.find((s) => s.name === 'filters')!;
    expect(filters.basis).toBe('last run');
    expect(filters.seconds).toBeCloseTo(filters.gflop / 100, 6); // 40 000 GFLOP in 400 s
    expect(p.stages.find((s) => s.name === 'dataset examples')!.seconds).toBeCloseTo(50 * (1416 / 1416), 6);
    expect(p.complete).toBe(true);
    expect(p.seconds).toBeCloseTo(p.stages.reduce((sum, s) => sum + s.seconds!, 0), 6);
    // Four shards split the filters and web images; the dataset unit stays on one.
    const dataset = p.stages.filter((s) => !['filters', 'web images'].includes(s.name)).reduce((sum, s) => sum + s.seconds!, 0);
    expect(p.shards!.seconds).toBeCloseTo(Math.max(p.seconds! / 4, dataset), 6);
    expect(planLine(p)).toMatch(/^plan: 1416 pictures, 4\d\.\d TFLOP, ~\d+m\d\ds here \(from the stages of darknet-tiny built on ort cpu\)/);
  });

  it('prefers the atlas\'s own figures, else the longest other build\'s, not a small test build\'s', () => {
    let timings = withRun(empty, 'ort cpu', { atlas: 'tiny-test', at: '2026-12-02T00:00:00Z', stages: [stage('filters', 3, 4, 30)] });
    timings = withRun(timings, 'ort cpu', { atlas: 'default-eighth', at: '2026-12-01T00:00:00Z', stages: [stage('filters', 100, 177, 5000)] });
    expect(plan(timings).stages[0]).toMatchObject({ basis: 'last run', from: { atlas: 'default-eighth' } });
    timings = withRun(timings, 'ort cpu', { atlas: 'darknet-tiny', at: '2026-11-01T00:00:00Z', stages: [stage('filters', 800, 1416, 40_000)] });
    const own = plan(timings).stages[0];
    expect(own.from!.atlas).toBe('darknet-tiny');
    expect(own.seconds).toBeCloseTo(own.gflop / 50, 6);
    // Seconds per planned GFLOP when the build did all the planned work (the engine's count differs a little).
    timings = withRun(timings, 'ort cpu', { atlas: 'darknet-tiny', at: '2026-11-02T00:00:00Z', stages: [{ ...stage('filters', 800, 1416, 40_000), plannedGflop: 32_000 }] });
    expect(plan(timings).stages[0].seconds).toBeCloseTo((own.gflop * 800) / 32_000, 6);
    // Another engine's or device's figures are not this one's.
    expect(planBuild({ config, model, layers, datasetImages: 1000, machine, timings, deviceKind: 'cuda' }).seconds).toBeUndefined();
  });

  it('with only the measured peak gives a lower bound and says so; a long build names --shard and --device', () => {
    const p = plan({ ...empty, peak: { gflops: 10, at: '2026-12-01T00:00:00Z', what: 'test' } });
    const filters = p.stages.find((s) => s.name === 'filters')!;
    expect(filters).toMatchObject({ basis: 'peak' });
    expect(filters.seconds).toBeCloseTo(filters.gflop / 10, 6);
    expect(p.complete).toBe(false);
    expect(p.stages.find((s) => s.name === 'dataset examples')!.seconds).toBeUndefined();
    const line = planLine(p);
    expect(line).toMatch(/at least 1h\d\dm here \(at the measured peak of 10 GFLOP\/s\)/);
    expect(line).toContain('--shard K/4');
    expect(line).toContain('--device cuda|webgpu');
    expect(p.gpu).toMatch(/no GPU build has been measured on this machine, so no estimate/);
  });
});

describe('withRun', () => {
  it('replaces the stages a build measured and keeps the atlas\'s others', () => {
    const first = withRun(empty, 'ort cpu', { atlas: 'a', at: '1', stages: [stage('filters', 10, 5, 50), stage('dataset scan', 3, 100, 10)] });
    const second = withRun(first, 'ort cpu', { atlas: 'a', at: '2', stages: [stage('filters', 20, 5, 50)] });
    expect(second.runs['ort cpu'].a.stages.map((s) => [s.name, s.seconds])).toEqual([
      ['filters', 20],
      ['dataset scan', 3],
    ]);
    expect(second.runs['ort cpu'].a.at).toBe('2');
  });
});
