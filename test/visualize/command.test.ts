/**
 * The `visualize` command end to end on the real darknet-tiny (through loadModel -> ensureAsset,
 * FILTER_ATLAS_MIRROR) with a tiny schedule, and its flag validation.
 */
import { Command } from 'commander';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineVisualizeCommand, lucidFromFlags, methodFromFlags, parseCount, pictureFileName } from '../../pipeline/cli/commands/visualize.js';
import { DEFAULT_BATCH_MEMORY_MIB } from '../../pipeline/schema/batch.js';
import { loadModel } from '../../pipeline/model/load.js';
import { planBatchSize } from '../../pipeline/visualize/batch-plan.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';

let errors = '';

async function run(args: string[]): Promise<string> {
  const program = new Command('filter-atlas').exitOverride();
  defineVisualizeCommand(program);
  let out = '';
  errors = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((errors += String(chunk)), true));
  try {
    await program.parseAsync(['node', 'filter-atlas', 'visualize', ...args]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

describe('visualize flags', () => {
  it('override the method parameters and report errors against the flag', async () => {
    const params = await methodFromFlags({ scales: '3', steps: '5', size: '32', lr: '0.05', blur: '0', noise: '100,200', space: 'model', clip: false });
    expect(params).toMatchObject({ scales: 3, stepsPerScale: 5, startSize: 32, learningRate: 0.05, blurSize: 0, space: 'model', clipBetweenScales: false });
    expect(params.noise).toEqual([100 / 255, 200 / 255]);
    await expect(methodFromFlags({ scales: '0' })).rejects.toThrow('--scales: expected an integer from 1 to 30, received "0"');
    await expect(methodFromFlags({ blur: '4' })).rejects.toThrow('--blur: expected 0 (no blur) or an odd integer up to 31, received "4"');
    await expect(methodFromFlags({ lr: 'fast' })).rejects.toThrow('--lr: expected a number, received "fast"');
    await expect(methodFromFlags({ noise: '180,150' })).rejects.toThrow('--noise: expected "low,high" grey levels with low <= high, e.g. 150,180, received "180,150"');
    await expect(methodFromFlags({ noise: '150' })).rejects.toThrow('--noise: expected "low,high" grey levels from 0 to 255, e.g. 150,180, received "150"');
    expect(() => parseCount('--seed', '-3')).toThrow('--seed: expected an integer >= 0, received "-3"');
    expect(() => parseCount('--batch', '0', 1)).toThrow('--batch: expected an integer >= 1, received "0"');
    expect(pictureFileName('darknet-tiny', 'conv2d_16', 3)).toBe('darknet-tiny-conv2d_16-3.png');
    expect(pictureFileName('resnet', 'layer1.0/conv 2', 3)).toMatch(/^resnet-layer1\.0_conv_2-[0-9a-f]{8}-3\.png$/);
  });

  it('give the lucid method its own fields, and refuse the article schedule flags with it', async () => {
    const method = await lucidFromFlags({ steps: '64', size: '128', lr: '0.1', objective: 'neuron', diversity: 'leaky_re_lu_6' });
    expect(method).toMatchObject({ kind: 'lucid', params: { steps: 64, size: 128, learningRate: 0.1, objective: 'neuron', diversity: { layer: 'leaky_re_lu_6', weight: 100, images: 4 } } });
    expect(await lucidFromFlags({})).toMatchObject({ kind: 'lucid', params: { steps: 128, size: 224, learningRate: 0.05 } });
    await expect(lucidFromFlags({ scales: '3' })).rejects.toThrow("--scales: expected a flag of the lucid method (--steps, --size, --lr, --objective, --diversity), received --scales, a flag of the article's schedule");
    await expect(lucidFromFlags({ size: '8' })).rejects.toThrow('--size: expected an integer from 16 to 2048, received "8"');
  });
});

describe('filter-atlas visualize on darknet-tiny', () => {
  let out: string;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'fa-visualize-'));
  });
  afterAll(async () => {
    await rm(out, { recursive: true, force: true });
  });

  it('writes one PNG per filter and one JSON line per filter', async () => {
    const stdout = await run(['darknet-tiny', '--layer', 'leaky_re_lu_3', '--filters', '0,5', '--scales', '2', '--steps', '3', '--size', '32', '--output', out, '--json']);
    const lines = stdout.trim().split('\n').map((line) => JSON.parse(line));
    expect(lines.map((l) => l.filter)).toEqual([0, 5]);
    for (const line of lines) {
      expect(Object.keys(line)).toEqual(['model', 'layer', 'filter', 'activation', 'seconds', 'image', 'engine', 'device', 'status']);
      expect(line).toMatchObject({ model: 'darknet-tiny', layer: 'leaky_re_lu_3', engine: 'ort' });
      expect(line.image).toBe(join(out, `darknet-tiny-leaky_re_lu_3-${line.filter}.png`));
      const meta = await sharp(line.image).metadata();
      expect([meta.format, meta.width, meta.height]).toEqual(['png', 38, 38]); // 32 -> int(32 * 1.2)
    }
    expect((await readdir(out)).sort()).toEqual(['darknet-tiny-leaky_re_lu_3-0.png', 'darknet-tiny-leaky_re_lu_3-5.png']);
  });

  it('draws with the lucid method given --method lucid', async () => {
    const stdout = await run(['darknet-tiny', '--layer', 'conv2d_16', '--filters', '7', '--method', 'lucid', '--steps', '4', '--size', '40', '--output', out, '--json']);
    const [line] = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(line).toMatchObject({ filter: 7, status: 'ok' });
    const meta = await sharp(line.image).metadata();
    expect([meta.width, meta.height]).toEqual([40, 40]);
    expect(errors).toContain('Lucid-style');
  });

  it("cuts batches by build's rule and budget, so the same seed gives build's pictures", async () => {
    // At 600 px a leaky_re_lu_2 image needs ~350 MiB: build's 1 GiB budget fits 2 of them.
    await run(['darknet-tiny', '--layer', 'leaky_re_lu_2', '--filters', '0-2', '--scales', '1', '--steps', '1', '--size', '600', '--output', out]);
    const model = await loadModel('darknet-tiny');
    const params = methodParamsSchema.parse({ scales: 1, stepsPerScale: 1, startSize: 600 });
    const build = planBatchSize(model, 'leaky_re_lu_2', { kind: 'article', params }, { size: 'auto', memoryMiB: DEFAULT_BATCH_MEMORY_MIB });
    expect(build).toBe(2);
    expect(errors).toContain(`3 filter(s), batches of ${build},`);
  });

  it('takes the deprecated --out as --output', async () => {
    const stdout = await run(['darknet-tiny', '--layer', 'leaky_re_lu_3', '--filters', '1', '--scales', '1', '--steps', '1', '--size', '16', '--out', out, '--json']);
    expect(JSON.parse(stdout).image).toBe(join(out, 'darknet-tiny-leaky_re_lu_3-1.png'));
    expect(errors).toContain('--out is deprecated, use --output');
  });

  it("names the layer's channel count when a filter is out of range", async () => {
    await expect(run(['darknet-tiny', '--layer', 'leaky_re_lu_3', '--filters', '3,16', '--output', out])).rejects.toThrow(
      'expected filter indices from 0 to 15 (the layer has 16 channels), received 16',
    );
  });
});
