/**
 * A small real build in-process (darknet-tiny, two layers, 8 dataset photos, one probe) reports its
 * stages as build --json does: every stage with wall seconds, engine seconds (at most the wall
 * seconds) and GFLOP counted by the engine (> 0 where the engine ran), and the units computed; it
 * hands them to the timings store, and the next build logs its estimate from them before it starts.
 * Also stageClock's arithmetic on a fake clock.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../pipeline/atlas/build.js';
import { stageClock } from '../../pipeline/atlas/stage-figures.js';
import { withRun, type MachineTimings, type StageFigures } from '../../pipeline/atlas/timings.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { testBuildDeps } from './build-deps.js';

const CONFIG = `
atlas: stage-figures
model: darknet-tiny
seed: 1
method: { startSize: 56, scales: 2, stepsPerScale: 2 }
layers:
  - layer: leaky_re_lu_2
    filters: "0-3"
  - layer: leaky_re_lu_6
    filters: "0-3"
batch: { size: 4 }
dataset:
  source: imagenet-sample
  limit: 8
  topK: 2
  batchSize: 8
probes:
  - image: photos/chelsea.png
    layer: leaky_re_lu_6
`;

describe('build: per-stage figures', () => {
  it('reports every stage with engine seconds within the wall time and the engine\'s GFLOP, and feeds the next estimate', async () => {
    const work = await mkdtemp(join(tmpdir(), 'filter-atlas-stages-'));
    const file = join(work, 'stages.yaml');
    await writeFile(file, CONFIG);
    const config = await loadConfig(file);
    config.output = join(work, 'out');
    let timings: MachineTimings = { version: 1, cpu: 'test', threads: 2, runs: {} };
    const logs: string[] = [];
    const deps = testBuildDeps(config, {
      log: (line) => logs.push(line),
      timings: {
        read: async () => timings,
        write: async (_threads, key, run) => {
          timings = withRun(timings, key, { ...run, stages: [...run.stages] });
        },
      },
    });
    const summary = await runBuild(config, deps);
    const byName = new Map(summary.stages.map((s) => [s.name, s]));
    expect([...byName.keys()]).toEqual(['filters', 'web images', 'dataset scan', 'dataset examples', 'connections', 'probes']);
    for (const stage of summary.stages) {
      expect(stage.seconds).toBeGreaterThanOrEqual(0);
      expect(stage.engineSeconds).toBeGreaterThanOrEqual(0);
      expect(stage.engineSeconds).toBeLessThanOrEqual(stage.seconds);
      expect(stage.gflop).toBeGreaterThanOrEqual(0);
    }
    const sum = (name: StageFigures['name']) => byName.get(name)!;
    for (const name of ['filters', 'dataset scan', 'connections', 'probes'] as const) {
      expect(sum(name).gflop, name).toBeGreaterThan(0);
      expect(sum(name).engineSeconds, name).toBeGreaterThan(0);
    }
    // Pictures and crops are not the engine's work.
    expect(sum('web images').gflop).toBe(0);
    expect(sum('dataset examples').gflop).toBe(0);
    expect(sum('filters').items).toBe(8);
    expect(sum('dataset scan').items).toBe(8);
    expect(sum('dataset examples').items).toBe(8);
    expect(sum('probes').items).toBe(2); // the probe and the browser probe model
    expect(summary.stages.reduce((s, stage) => s + stage.seconds, 0)).toBeLessThanOrEqual(summary.seconds);
    expect(summary.peakGflops).toBeUndefined();

    // The store got the stages that computed; the next build (all reused) estimates from them first.
    const stored = timings.runs['ort cpu']['stage-figures'];
    // Web images were made with their batches (in the filters stage): the catch-up stage computed none.
    expect(sum('web images').items).toBe(0);
    expect(stored.stages.map((s) => s.name)).toEqual(['filters', 'dataset scan', 'dataset examples', 'connections', 'probes']);
    // Each did all its planned work: kept with the GFLOP the plan counted, the scale of the next estimate.
    for (const stage of stored.stages) expect(stage.plannedGflop, stage.name).toBeGreaterThanOrEqual(0);
    expect(stored.stages[0].plannedGflop! / stored.stages[0].gflop!).toBeGreaterThan(0.85);
    expect(stored.stages[0].plannedGflop! / stored.stages[0].gflop!).toBeLessThan(1.15);
    logs.length = 0;
    const again = await runBuild(config, deps);
    expect(logs.find((line) => line.startsWith('plan: '))).toMatch(/^plan: 8 pictures, \d+(\.\d)? GFLOP, ~\d+s here \(from the stages of stage-figures built on ort cpu\)$/);
    // Nothing computed: the stored figures are kept, not replaced by a reused build's.
    expect(again.stages.map((s) => [s.name, s.items])).toEqual([...byName.keys()].map((name) => [name, 0]));
    expect(timings.runs['ort cpu']['stage-figures'].stages).toEqual(stored.stages);
  });
});

describe('stageClock', () => {
  it('gives each stage the difference of the engine usage over its wall time', () => {
    const clock = { ms: 0 };
    const usage = { seconds: 0, flops: 0 };
    const stages = stageClock(() => ({ ...usage }), () => clock.ms);
    const first = stages.start('filters');
    clock.ms = 10_000;
    Object.assign(usage, { seconds: 8, flops: 4e9 });
    expect(first.stop(3)).toEqual({ name: 'filters', seconds: 10, engineSeconds: 8, gflop: 4, items: 3 });
    const second = stages.start('web images');
    clock.ms = 12_000;
    expect(second.stop(3)).toEqual({ name: 'web images', seconds: 2, engineSeconds: 0, gflop: 0, items: 3 });
    expect(stages.stages.map((s) => s.name)).toEqual(['filters', 'web images']);
  });
});
