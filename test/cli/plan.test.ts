/**
 * `filter-atlas plan` on config/default.yaml, the real CLI with a cache of its own (the assets come
 * from the mirror): without measurements it gives the filters and GFLOP per stage and no invented
 * time; with a measured peak in the cache, a lower bound, the shards' time and the GPU note. It runs
 * no engine: a few seconds.
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { BuildPlan } from '../../pipeline/atlas/plan.js';
import { thisMachine, updateTimings } from '../../pipeline/atlas/timings.js';
import { cli } from '../faults/harness.js';

describe('filter-atlas plan', () => {
  it('plans the default atlas before any build, then from the measured peak', async () => {
    const cache = await mkdtemp(join(tmpdir(), 'filter-atlas-plan-cache-'));
    const env = { FILTER_ATLAS_CACHE: cache };
    const first = await cli(['plan', 'config/default.yaml', '--threads', '2', '--json'], { env });
    expect(first.code, first.stderr).toBe(0);
    const plan = JSON.parse(first.stdout) as BuildPlan;
    expect(plan.layers.map((l) => l.filters)).toEqual([32, 128, 256, 1000]);
    expect(plan.stages.find((s) => s.name === 'dataset scan')!.items).toBe(1000);
    expect(plan.stages.find((s) => s.name === 'filters')!.gflop).toBeGreaterThan(30_000);
    expect(plan.seconds).toBeUndefined();

    await updateTimings(thisMachine(2), (t) => ({ ...t, peak: { gflops: 5, at: '2026-12-01T00:00:00Z', what: 'test' } }), cache);
    const second = await cli(['plan', '--threads', '2', '--shards', '8'], { env });
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('conv2d_16 (1000 channels): 1000 filters, article, batches of 16');
    expect(second.stdout).toMatch(/total: 4\d\.\d TFLOP, at least \d+h\d\dm on this machine \(at the measured peak of 5 GFLOP\/s\)/);
    expect(second.stdout).toMatch(/with --shard K\/8 on 8 machines like this one: ~\d+m\d\ds/);
    expect(second.stdout).toContain('--device cuda|webgpu');
  });
});
