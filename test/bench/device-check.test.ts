/**
 * The device check's pieces that run here: what the pack takes (the check's import graph, nothing
 * native but onnxruntime-node), the projection from one measured batch to the article's atlas, the
 * error measures, and the script's own usage. The measuring half runs end to end in
 * device-check-run.test.ts; the pack itself (minutes of xz) is dry-run by hand
 * (`bash scripts/device-check.sh pack && bash scripts/device-check.sh run --device cpu --quick`: README, GPU).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { projectAtlas, relativeError, relativeL2Error, scheduleFractionDone, scheduleParams } from '../../bench/device/projection.js';
import { ascentTransfersPerStep, onDevice } from '../../bench/device/residency.js';
import type { PlacementReport } from '../../pipeline/engine/engine.js';
import { scaleSizes } from '../../pipeline/schema/article-params.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { findLayer } from '../../pipeline/model/layers.js';
import { filterCost } from '../../pipeline/visualize/cost.js';
import { randomVgg16Bn } from '../engine/helpers/vgg-weights.js';

const run = promisify(execFile);
const root = join(import.meta.dirname, '../..');

describe('device pack contents', () => {
  it("takes the check's project files and pure-JavaScript packages only", async () => {
    const { stdout } = await run(process.execPath, [join(root, 'scripts/device-pack.mjs'), '--list']);
    const { project, packages } = JSON.parse(stdout) as { project: string[]; packages: string[] };
    expect(project).toEqual(expect.arrayContaining(['bench/device/check.ts', 'pipeline/engine/ort/engine.ts', 'pipeline/model/vgg.ts', 'pipeline/visualize/loop.ts']));
    expect(project.filter((f) => f.startsWith('site/') || f.startsWith('pipeline/render/') || f.includes('/tfjs/'))).toEqual([]);
    expect(packages).toEqual(expect.arrayContaining(['onnx-proto', 'protobufjs', 'long', 'yaml', 'zod']));
    for (const heavy of ['sharp', 'astro', '@tensorflow/tfjs', 'onnxruntime-node', 'tsx', 'esbuild']) expect(packages).not.toContain(heavy);
  });

  it('the script explains itself without arguments', async () => {
    const error = await run('bash', [join(root, 'scripts/device-check.sh')]).then(() => undefined, (e: { code: number; stderr: string }) => e);
    expect(error?.code).toBe(2);
    expect(error?.stderr).toContain('scripts/device-check.sh run [--device webgpu|cpu|auto|cuda] [--quick] [--size 224] [--batch 8]');
    // The whole header, down to the software-adapter example at its end.
    expect(error?.stderr).toContain('--device webgpu --quick --size 32 --batch 2');
  });

  it('refuses a bad --size or --batch, and either without --quick, before unpacking anything', async () => {
    const refusal = (...args: string[]) => run('bash', [join(root, 'scripts/device-check.sh'), 'run', ...args]).then(() => undefined, (e: { code: number; stderr: string }) => e);
    const cases: Array<[string[], string]> = [
      [['--quick', '--size', '16'], "--size: expected a whole number from 32 to 224, received '16'"],
      [['--quick', '--size', '6x'], "--size: expected a whole number from 32 to 224, received '6x'"],
      [['--quick', '--batch', '19'], "--batch: expected a whole number from 1 to 18, received '19'"],
      [['--quick', '--batch'], "--batch: expected a whole number from 1 to 18, received ''"],
      [['--size', '32', '--batch', '2'], '--size 32 --batch 2: these shrink the dry run; add --quick'],
    ];
    for (const [args, message] of cases) {
      const error = await refusal(...args);
      expect(error?.code, args.join(' ')).toBe(2);
      expect(error?.stderr).toContain(message);
    }
  });

  it("the check's own half refuses them the same way", async () => {
    const check = (...args: string[]) =>
      run(process.execPath, ['--import', 'tsx', join(root, 'bench/device/check.ts'), '--work', '/nonexistent', '--config', 'config/article.yaml', ...args], { cwd: root }).then(
        () => undefined,
        (e: { stderr: string }) => e.stderr,
      );
    expect(await check('--quick', '--size', '31')).toContain('--size: expected a whole number from 32 to 224, received "31"');
    expect(await check('--batch', '2')).toContain('--size 224 --batch 2: these shrink the dry run; add --quick');
  });
});

describe("the summary's account of the device", () => {
  const report = (graph: string, nodes: Record<string, number>, copies = 0, cpuOps: Record<string, number> = {}, transfers?: PlacementReport['transfers']): PlacementReport => ({
    graph,
    nodes: Object.values(nodes).reduce((a, b) => a + b, 0),
    providers: Object.fromEntries(Object.entries(nodes).map(([provider, n]) => [provider, { nodes: n, flops: 0 }])),
    copies: { nodes: copies, bytes: copies * 100 },
    cpuOps,
    ...(transfers ? { transfers } : {}),
  });

  it('sums the nodes on the device, the copies and the ops left on the CPU over every program', () => {
    const placements = [
      report('gradient|features.42|32x32', { webgpu: 160 }),
      report('gradient|conv2d_16|56x56', { webgpu: 96, cpu: 27 }, 24, { MaxUnpool: 3, Gather: 6 }),
      report('ascent|conv2d_16|56x56', { webgpu: 230, cpu: 4 }, 2, { Gather: 4 }),
    ];
    expect(onDevice(placements, 'webgpu')).toEqual({
      provider: 'webgpu',
      programs: 3,
      nodes: 517,
      nodes_on_device: 486,
      share_on_device: 486 / 517,
      copies: 26,
      copy_bytes: 2600,
      cpu_ops: { MaxUnpool: 3, Gather: 10 },
    });
    expect(onDevice([report('gradient|features.42|32x32', { cpu: 149 })], 'cpu')).toMatchObject({ nodes: 149, nodes_on_device: 149, share_on_device: 1, copies: 0 });
    expect(onDevice([], 'webgpu')).toMatchObject({ programs: 0, share_on_device: 0 });
  });

  it("lists each ascent program's bytes per step and per scale, and nothing where no ascent ran on a device", () => {
    const placements = [
      report('gradient|features.42|32x32', { webgpu: 160 }, 0, {}, { toDevice: 28672, toHost: 24584 }),
      report('ascent|features.40|32x32', { webgpu: 212 }, 0, {}, { toDevice: 8, toHost: 8, scale: { toDevice: 77840, toHost: 24584 } }),
    ];
    expect(ascentTransfersPerStep(placements)).toEqual({
      ascent_transfers: [{ graph: 'ascent|features.40|32x32', per_step: { to_device: 8, to_host: 8 }, per_scale: { to_device: 77840, to_host: 24584 } }],
    });
    // On the CPU the ascent is the host's (no ascent program) and nothing crosses.
    expect(ascentTransfersPerStep([report('gradient|features.42|32x32', { cpu: 149 })])).toEqual({});
  });
});

describe('projection to the article atlas', () => {
  it('scales a measured batch by the cost model, for a cut or shortened schedule too', async () => {
    const model = await randomVgg16Bn();
    const config = await loadConfig(join(root, 'config/article.yaml'));
    const layer = findLayer(model, '40').node.name;
    const full = scheduleParams(false);
    const quick = scheduleParams(true);
    expect([full.scales, full.stepsPerScale, quick.scales, quick.stepsPerScale]).toEqual([12, 20, 2, 2]);
    // The real dry run starts at the article's 56 px; a reduced one (--size 32) at its own size,
    // as scripts/device-check.sh tells PyTorch (first, first x 12 / 10).
    expect(scaleSizes(quick)).toEqual([56, 67]);
    expect(scaleSizes(scheduleParams(true, 32))).toEqual([32, 38]);
    expect(scheduleParams(false, 32)).toEqual(full);
    const [asWritten, everyFilter] = projectAtlas(model, config, layer, full, 10);
    expect([asWritten.filters, everyFilter.filters]).toEqual([18 + 18 + 32 + 32 + 32, 512 + 512 + 256 + 256 + 128]);
    // Layer 40 alone, every filter: 512 x 10 s; earlier layers cost less per filter.
    expect(everyFilter.seconds).toBeGreaterThan(512 * 10);
    expect(everyFilter.hours).toBeCloseTo(everyFilter.seconds / 3600, 9);
    // The same engine measured on the quick schedule projects the same atlas.
    const quickSeconds = (10 * filterCost(model, layer, { kind: 'article', params: quick })) / filterCost(model, layer, { kind: 'article', params: full });
    expect(projectAtlas(model, config, layer, quick, quickSeconds)[0].seconds).toBeCloseTo(asWritten.seconds, 6);
    // Later scales are larger: half the steps is well under half the cost.
    expect(scheduleFractionDone(model, layer, full, 120)).toBeLessThan(0.3);
    expect(scheduleFractionDone(model, layer, full, 240)).toBeCloseTo(1, 12);
  });

  it('measures errors against the reference relative to its scale', () => {
    expect(relativeError([1, 2.5], [1, 2])).toBeCloseTo(0.25, 12);
    expect(relativeL2Error([3, 4.5], [3, 4])).toBeCloseTo(0.1, 12);
    expect(relativeError([1], [1, 2])).toBe(Number.POSITIVE_INFINITY);
  });
});
