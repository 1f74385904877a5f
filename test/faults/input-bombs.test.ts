/**
 * Inputs made to exhaust the machine or to crash the loaders, each refused with a user error (exit 1,
 * one `filter-atlas: file:line: expected ...` message, no stack) or handled within bounds:
 * - YAML alias bombs (billion laughs, tens of thousands of aliases, a recursive alias), and a config
 *   over the size limit;
 * - model files whose tensor dims are absurd (1e12 elements, negative) in ONNX, safetensors and
 *   TensorFlow.js weight manifests;
 * - decompression bombs in a dataset (PNGs of 19000^2, 12000^2 and 7000^2 px of a few kB each), a photo
 *   whose name is 240 bytes long, and `dataset.batchSize` far beyond its bound: the build completes,
 *   reruns, and its peak memory stays under 1.5 GB.
 */
import { copyFile, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { atlasSchema } from '../../pipeline/schema/atlas.js';
import { MAX_SAFE_NAME } from '../../pipeline/util/file-names.js';
import { floatTensor, modelBytes, node } from '../model/helpers/onnx.js';
import { pngFile } from './png.js';
import { cli, consistencyProblems, filesUnder, isUserError, recordFigures, type RunResult } from './harness.js';

let work: string;
let hostile = 0;
const notes: string[] = [];

/** Runs the CLI and measures its wall time. */
async function timed(args: string[], options: Parameters<typeof cli>[1] = {}): Promise<RunResult & { seconds: number }> {
  const started = performance.now();
  const result = await cli(args, options);
  return { ...result, seconds: (performance.now() - started) / 1000 };
}

function expectUserError(result: RunResult, ...parts: string[]): void {
  expect(isUserError(result), result.stderr).toBe(true);
  for (const part of parts) expect(result.stderr).toContain(part);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-bombs-'));
});

afterAll(async () => {
  await recordFigures('input-bombs', { hostileInputs: hostile, notes });
});

const CONFIG_HEAD = 'model: darknet-tiny\nlayers: [leaky_re_lu_2]\n';

describe('a YAML config', () => {
  it('with nested aliases (billion laughs) is refused at once, naming the file and line', async () => {
    const lines = [CONFIG_HEAD, 'a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) lines.push(`a${i}: &a${i} [${Array(9).fill(`*a${i - 1}`).join(',')}]`);
    const file = join(work, 'laughs.yaml');
    await writeFile(file, lines.join('\n') + '\n');
    hostile++;
    const result = await timed(['build', file, '--output', join(work, 'out')]);
    expectUserError(result, `${file}:`, 'YAML aliases are expanded');
    expect(result.seconds).toBeLessThan(15);
  });

  it('with 30,000 aliases is refused at the first alias over the bound, in seconds', async () => {
    const file = join(work, 'many-aliases.yaml');
    await writeFile(file, `${CONFIG_HEAD}x: &x 1\ny:\n${'  - *x\n'.repeat(30_000)}`);
    hostile++;
    const result = await timed(['build', file, '--output', join(work, 'out')]);
    // Line 5 holds the first alias: the 101st is on line 105.
    expectUserError(result, `${file}:105: expected at most 100 YAML aliases`);
    notes.push(`30,000 YAML aliases (${(30_000 * 7) / 1000} kB) refused in ${result.seconds.toFixed(1)} s`);
    expect(result.seconds).toBeLessThan(15);
  });

  it('of 650 kB is refused from its size, before it is parsed', async () => {
    const file = join(work, 'huge.yaml');
    await writeFile(file, `${CONFIG_HEAD}x: &x 1\ny:\n${'  - *x\n'.repeat(93_000)}`);
    hostile++;
    const result = await timed(['build', file, '--output', join(work, 'out')]);
    expectUserError(result, `${file}: expected a config file of at most 256 KiB, received 651`);
    expect(result.seconds).toBeLessThan(15);
  });

  it('with an alias inside its own anchor is refused, not walked forever', async () => {
    const file = join(work, 'recursive.yaml');
    await writeFile(file, `${CONFIG_HEAD}method: &m\n  scales: [*m]\n`);
    hostile++;
    expectUserError(await cli(['build', file, '--output', join(work, 'out')]), `${file}:4: expected an alias outside the block its anchor names, received *m inside &m`);
  });
});

describe('a model file with absurd tensor dims', () => {
  const onnxModel = (dims: number[]) =>
    modelBytes({
      nodes: [node('Conv', 'conv', ['x', 'w'], ['y'], { kernel_shape: [1, 1] })],
      initializers: [floatTensor('w', dims, [1])],
      input: { name: 'x', dims: [1, 3, 8, 8] },
      output: 'y',
    });

  it.each([
    ['1e12 elements', [1e12], 'expected a tensor of at most 268435456 elements, received dims [1000000000000]'],
    ['a negative dim', [-3, 1], 'expected tensor dims that are non-negative integers, received dims [-3, 1]'],
  ])('ONNX, %s: a user error naming the file and the initializer', async (_name, dims, message) => {
    const file = join(work, `dims-${dims.join('x')}.onnx`);
    await writeFile(file, onnxModel(dims));
    hostile++;
    expectUserError(await cli(['layers', file]), `${file} initializer w: ${message}`);
  });

  it.each([
    ['1e12 elements', [1e6, 1e6], 'expected a tensor of at most'],
    ['negative dims that multiply to the bytes present', [-1, -1], 'expected tensor dims that are non-negative integers, received dims [-1, -1]'],
    ['a dim that is not a number', ['a'], 'expected tensor dims that are non-negative integers'],
  ])('safetensors, %s: a user error naming the file and the tensor', async (_name, shape, message) => {
    const header = Buffer.from(JSON.stringify({ 'features.0.weight': { dtype: 'F32', shape, data_offsets: [0, 4] } }));
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(header.length));
    const file = join(work, `dims-${shape.join('x')}.safetensors`);
    await writeFile(file, Buffer.concat([length, header, Buffer.alloc(4)]));
    hostile++;
    expectUserError(await cli(['layers', file, '--arch', 'vgg16']), `${file} tensor features.0.weight: ${message}`);
  });

  it('a TensorFlow.js manifest with a negative shape: a user error naming model.json and the weight', async () => {
    const source = await ensureAsset('darknet-tiny');
    const dir = join(work, 'tfjs-dims');
    await mkdir(dir);
    for (const name of await readdir(source)) await copyFile(join(source, name), join(dir, name));
    const modelJson = join(dir, 'model.json');
    const model = JSON.parse(await readFile(modelJson, 'utf8')) as { weightsManifest: { weights: { name: string; shape: number[] }[] }[] };
    const weight = model.weightsManifest[0].weights[0];
    weight.shape = [-1e12, ...weight.shape.slice(1)];
    await writeFile(modelJson, JSON.stringify(model));
    hostile++;
    expectUserError(await cli(['layers', modelJson]), `${modelJson} weight ${weight.name}: expected tensor dims that are non-negative integers`);
  });
});

/** A valid 8-bit RGB PNG of side x side pixels of one grey: a few kB on disk, 3 bytes a pixel decoded. */
function pngBomb(side: number): Buffer {
  const row = Buffer.alloc(1 + 3 * side, 0x80);
  row[0] = 0;
  return pngFile(side, 8, 2, Buffer.concat(Array.from({ length: side }, () => row)));
}

describe('a hostile dataset', () => {
  it('skips PNG bombs over the pixel limit, shrinks one under it while decoding, keeps a 240-byte file name, and stays under 1.5 GB', async () => {
    const photos = join(work, 'photos');
    await mkdir(photos);
    const sample = await ensureAsset('imagenet-sample');
    const real = (await readdir(sample)).filter((n) => n.endsWith('.JPEG')).sort().slice(0, 3);
    for (const name of real) await copyFile(join(sample, name), join(photos, name));
    const longName = `${'l'.repeat(235)}.JPEG`;
    expect(Buffer.byteLength(longName)).toBe(240);
    await copyFile(join(sample, real[0]), join(photos, longName));
    for (const side of [19_000, 12_000, 7_000]) {
      const bomb = pngBomb(side);
      expect(bomb.length).toBeLessThan(1_200_000);
      await writeFile(join(photos, `bomb-${side}.png`), bomb);
    }
    hostile += 4;

    const config = join(work, 'bombs.yaml');
    // topK 5 of 5 scanned photos: every photo is a top image of every filter, so each gets a thumbnail.
    await writeFile(config, `atlas: bombs\nmodel: darknet-tiny\nlayers:\n  - layer: leaky_re_lu_2\n    filters: "0-1"\nmethod: { scales: 2, stepsPerScale: 2 }\nbatch: { size: 2 }\ndataset: { source: ${JSON.stringify(photos)}, topK: 5, batchSize: 64 }\n`);
    const report = join(work, 'bombs-report.json');
    const built = await timed(['build', config, '--output', join(work, 'out')], { inject: true, env: { FAULT_REPORT: report } });
    expect(built.code, built.stderr).toBe(0);
    const dir = join(work, 'out', 'bombs');
    const atlas = atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
    expect(atlas.complete).toBe(true);
    expect([...atlas.dataset!.images].sort()).toEqual(['bomb-7000.png', ...real, longName].sort());
    const skipped = new Map(atlas.dataset!.skipped.map((s) => [s.file, s.reason]));
    expect([...skipped.keys()].sort()).toEqual(['bomb-12000.png', 'bomb-19000.png']);
    expect(skipped.get('bomb-19000.png')).toBe('Input image exceeds pixel limit (19000x19000 px, at most 50 megapixels)');
    // Every derived file has a bounded name; the long one's thumbnail exists.
    const files = await filesUnder(dir);
    for (const file of files) expect(file.split('/').at(-1)!.length, file).toBeLessThanOrEqual(MAX_SAFE_NAME + 16);
    expect(atlas.layers[0].filters[0].top!.some((t) => t.file === longName)).toBe(true);
    expect(await consistencyProblems(dir)).toEqual([]);
    const { maxRssBytes } = JSON.parse(await readFile(report, 'utf8')) as { maxRssBytes: number };
    notes.push(`dataset bombs (19000^2, 12000^2, 7000^2 PNG, 240-byte name, batchSize 64): peak ${(maxRssBytes / 2 ** 20).toFixed(0)} MiB, ${built.seconds.toFixed(1)} s`);
    console.log(notes.at(-1));
    expect(maxRssBytes).toBeLessThan(1.5e9);

    // The rerun reads every record back (it used to fail on the long name's temporary file every time).
    const again = await cli(['build', config, '--output', join(work, 'out'), '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout.trim())).toMatchObject({ filtersComputed: 0, datasetScanned: false });
  });

  it('refuses a dataset.batchSize beyond its bound, naming the line', async () => {
    const config = join(work, 'batch.yaml');
    await writeFile(config, `atlas: batch\n${CONFIG_HEAD}dataset: { source: imagenet-sample, limit: 300, batchSize: 100000 }\n`);
    hostile++;
    expectUserError(await cli(['build', config, '--output', join(work, 'out')]), `${config}:4: dataset.batchSize: expected at most 64 photos per scan batch`);
  });
});
