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
    expect(error?.stderr).toContain('scripts/device-check.sh run [--device webgpu|cpu|auto|cuda] [--quick]');
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
