/**
 * The device check's measuring half, end to end on this CPU with the dry run's short schedule:
 * scripts/device_check_torch.py (Debian's PyTorch: seeded VGG16-BN weights, the float64 reference,
 * PyTorch's step times) then bench/device/check.ts on `--device cpu --quick`, as
 * scripts/device-check.sh runs them from the pack. The summary is the contract a GPU run is read
 * by: our gradient against PyTorch's float64 one, both engines' steps, the batch of layer-40
 * filters, the projection to the article's atlas. With `--batch 2` on both halves (steps at 224 x 1
 * and 224 x 2, labelled `reduced`): 74 s at a load average of 4.6-6.5 on the 2 cores (with the
 * steps at 224 x 8 it took 7 min 21 s at load 13).
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');
const PYTHON = process.env.FILTER_ATLAS_PYTHON ?? '/usr/bin/python3';

interface Summary {
  status: string;
  mode: string;
  reduced?: { size: number; batch: number; note: string };
  software_adapter?: boolean;
  on_device: { provider: string; share_on_device: number; copies: number };
  engine: { deviceKind: string; device: string; selection?: string };
  torch: { device: string; steps: Array<{ size: number; batch: number; seconds_per_step: number }> };
  numerics: { objective_relative_error: number; gradient_relative_error: number; gradient_relative_l2_error: number; torch_float32_gradient_relative_error: number };
  steps: Array<{ size: number; batch: number; seconds_per_step: number; torch_seconds_per_step: number; torch_over_ours: number }>;
  placement: { graph: string; line: string; providers: Record<string, { nodes: number }> };
  schedule: { layer: string; filters: number[]; sizes: number[]; completed: boolean; steps_done: number; sessions_seconds: number; seconds_per_filter: number; seconds_per_filter_article_schedule: number; engine_share: number };
  projection: Array<{ what: string; filters: number; seconds: number; hours: number }>;
  projection_note: string;
  errors?: string[];
}

describe('device check, dry run on the CPU', () => {
  let work = '';
  afterAll(async () => {
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('prints one summary: numerics against PyTorch float64, steps beside PyTorch, a schedule batch and the projected atlas', async () => {
    work = await mkdtemp(join(tmpdir(), 'filter-atlas-device-check-'));
    // --batch 2 on both halves (scripts/device-check.sh run --quick --batch 2): the steps at 224 x 1 and 224 x 2, two filters.
    const torchArgs = ['--out', work, '--batch', '2', '--steps', '1', '--warmup', '1', '--schedule-sizes', '56,67', '--steps-per-scale', '2', '--schedule-batch', '2', '--threads', '2'];
    await run(PYTHON, [join(root, 'scripts/device_check_torch.py'), ...torchArgs], { cwd: root, maxBuffer: 1 << 20 });
    const { stdout } = await run(
      process.execPath,
      ['--import', 'tsx', join(root, 'bench/device/check.ts'), '--work', work, '--config', 'config/article.yaml', '--device', 'cpu', '--quick', '--batch', '2', '--deadline-seconds', '600'],
      { cwd: root, maxBuffer: 1 << 20 },
    );
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const summary = JSON.parse(lines[0]) as Summary;
    expect(summary.errors).toBeUndefined();
    expect(summary).toMatchObject({ status: 'ok', mode: 'quick (dry run: shortened schedule)', engine: { deviceKind: 'cpu' }, torch: { device: 'cpu' } });
    expect(summary.engine.selection).toBeUndefined(); // cpu named explicitly: no auto notice
    expect(summary.reduced).toMatchObject({ size: 224, batch: 2 });
    expect(summary.reduced?.note).toContain('a schedule batch of 2 filters from 56 px');
    expect(summary.software_adapter).toBeUndefined();

    // Our float32 against PyTorch's float64 on a random image: measured 4e-8 (objective), 3.2e-4 (L2)
    // and 2.4e-3 (largest pixel): a few pixels whose ReLU or max-pool choice flips within float32
    // rounding (docs/design.md section 3). A wrong gradient is off by order 1.
    const { numerics } = summary;
    expect(numerics.objective_relative_error).toBeLessThan(1e-5);
    expect(numerics.gradient_relative_l2_error).toBeLessThan(2e-3);
    expect(numerics.gradient_relative_error).toBeLessThan(2e-2);

    expect(summary.steps.map((s) => `${s.size}x${s.batch}`)).toEqual(['224x1', '224x2']);
    for (const step of summary.steps) {
      expect(step.seconds_per_step).toBeGreaterThan(0);
      expect(step.torch_seconds_per_step).toBe(summary.torch.steps.find((t) => t.size === step.size && t.batch === step.batch)?.seconds_per_step);
      expect(step.torch_over_ours / (step.torch_seconds_per_step / step.seconds_per_step)).toBeCloseTo(1, 2);
    }
    expect(summary.placement.graph).toMatch(/^gradient\|.+\|224x224$/);
    expect(Object.keys(summary.placement.providers)).toEqual(['cpu']);
    expect(summary.placement.line).toMatch(/; no host<->device copies$/);
    expect(summary.on_device).toMatchObject({ provider: 'cpu', share_on_device: 1, copies: 0 });

    // Two layer-40 filters of the article's gallery, 2 scales x 2 steps, run to the end.
    expect(summary.schedule).toMatchObject({ layer: 'features.40', filters: [4, 9], sizes: [56, 67], completed: true, steps_done: 4 });
    expect(summary.schedule).toMatchObject({ sessions_built_first: 2 });
    expect(summary.schedule.sessions_seconds).toBeGreaterThan(0);
    expect(summary.schedule.engine_share).toBeGreaterThan(0);
    expect(summary.schedule.engine_share).toBeLessThanOrEqual(1);
    // The article's schedule (12 scales to 408 px, 20 steps each) costs far more than 2 x 2 steps.
    expect(summary.schedule.seconds_per_filter_article_schedule).toBeGreaterThan(50 * summary.schedule.seconds_per_filter);
    expect(summary.projection.map((p) => p.filters)).toEqual([132, 1664]);
    expect(summary.projection[1].seconds).toBeGreaterThan(summary.projection[0].seconds);
    expect(summary.projection[0].seconds).toBeGreaterThan(18 * summary.schedule.seconds_per_filter_article_schedule);
    expect(summary.projection_note).toContain('projected from a shortened schedule');
  }, 900_000);
});
