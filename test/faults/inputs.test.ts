/**
 * Hostile inputs to a real build: a dataset folder with a decompression bomb (a 30000x30000 PNG of
 * 110 kB), a 1-byte JPEG, a symlink loop, a dangling link and a folder link named like an image,
 * beside six real photos; and a model whose weights hold a NaN. Each is skipped and reported, or
 * flagged, and the build completes; the bomb is refused from its header (sharp's limitInputPixels),
 * so the process's peak memory stays far below the 2.7 GB its pixels would take.
 */
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { pngFile } from './png.js';
import { cli, consistencyProblems, recordFigures } from './harness.js';

let work: string;
let hostile = 0;

/** A valid 1-bit grayscale PNG of side x side black pixels: tiny on disk, 3 bytes a pixel once decoded to RGB. */
function pngBomb(side: number): Buffer {
  return pngFile(side, 1, 0, Buffer.alloc(side * (1 + Math.ceil(side / 8))));
}

async function readAtlas(dir: string): Promise<Atlas> {
  return atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-inputs-'));
});

afterAll(async () => {
  await recordFigures('inputs', { hostileInputs: hostile });
});

describe('a hostile dataset folder', () => {
  it('skips and reports a decompression bomb, a 1-byte JPEG and bad links, with bounded memory', async () => {
    const photos = join(work, 'photos');
    await mkdir(photos);
    const sample = await ensureAsset('imagenet-sample');
    const real = (await readdir(sample)).filter((n) => n.endsWith('.JPEG')).sort().slice(0, 6);
    for (const name of real) await copyFile(join(sample, name), join(photos, name));
    const bomb = pngBomb(30_000);
    expect(bomb.length).toBeLessThan(200_000);
    await writeFile(join(photos, 'bomb.png'), bomb);
    await writeFile(join(photos, 'one-byte.jpg'), Buffer.from([0xff]));
    await symlink('loop-b.jpg', join(photos, 'loop-a.jpg'));
    await symlink('loop-a.jpg', join(photos, 'loop-b.jpg'));
    await symlink(join(work, 'nowhere.png'), join(photos, 'dangling.png'));
    await symlink(work, join(photos, 'folder.webp'));
    hostile += 6;

    const config = join(work, 'dataset.yaml');
    await writeFile(config, `atlas: hostile-dataset\nmodel: darknet-tiny\nlayers:\n  - layer: leaky_re_lu_2\n    filters: "0-3"\nmethod: { scales: 2, stepsPerScale: 2 }\nbatch: { size: 4 }\ndataset: { source: ${JSON.stringify(photos)}, topK: 2, batchSize: 4 }\n`);
    const report = join(work, 'dataset-report.json');
    const built = await cli(['build', config, '--output', join(work, 'out')], { inject: true, env: { FAULT_REPORT: report } });
    expect(built.code, built.stderr).toBe(0);
    const dir = join(work, 'out', 'hostile-dataset');
    const atlas = await readAtlas(dir);
    expect(atlas.complete).toBe(true);
    expect(atlas.dataset!.images).toEqual(real);
    const skipped = new Map(atlas.dataset!.skipped.map((s) => [s.file, s.reason]));
    expect([...skipped.keys()].sort()).toEqual(['bomb.png', 'dangling.png', 'folder.webp', 'loop-a.jpg', 'loop-b.jpg', 'one-byte.jpg']);
    expect(skipped.get('bomb.png')).toMatch(/pixel limit/i);
    expect(skipped.get('folder.webp')).toBe('a folder, not an image file (EISDIR)');
    expect(skipped.get('loop-a.jpg')).toBe('a symbolic link loop (ELOOP)');
    expect(skipped.get('dangling.png')).toBe('a dangling symbolic link (ENOENT)');
    expect(built.stderr).toContain('dataset: skipped 6 unreadable file(s)');
    expect(await consistencyProblems(dir)).toEqual([]);
    const { maxRssBytes } = JSON.parse(await readFile(report, 'utf8')) as { maxRssBytes: number };
    console.log(`peak memory of the build: ${(maxRssBytes / 2 ** 20).toFixed(0)} MiB (the bomb decoded to RGB would be ${((30_000 ** 2 * 3) / 2 ** 30).toFixed(1)} GiB)`);
    expect(maxRssBytes).toBeLessThan(2 ** 30);
  });
});

describe('a model with a NaN weight', () => {
  it("flags the filters, leaves the NaN channel's statistics out, skips the probe, and completes", async () => {
    const model = join(work, 'nan-model');
    await cp(await ensureAsset('darknet-tiny'), model, { recursive: true });
    // batch_normalization_2's gamma of channel 3 (it scales leaky_re_lu_2's channel 3): NaN.
    const manifest = (JSON.parse(await readFile(join(model, 'model.json'), 'utf8')) as { weightsManifest: { paths: string[]; weights: { name: string; shape: number[] }[] }[] }).weightsManifest;
    const group = manifest.find((g) => g.weights.some((w) => w.name === 'batch_normalization_2/gamma'))!;
    let offset = 0;
    for (const weight of group.weights) {
      if (weight.name === 'batch_normalization_2/gamma') break;
      offset += weight.shape.reduce((a, b) => a * b, 1) * 4;
    }
    const shard = join(model, group.paths[0]);
    const bytes = await readFile(shard);
    bytes.writeFloatLE(Number.NaN, offset + 3 * 4);
    await writeFile(shard, bytes);
    hostile += 1;

    const config = join(work, 'nan.yaml');
    await writeFile(config, `atlas: nan\nmodel: ${JSON.stringify(join(model, 'model.json'))}\nlayers:\n  - layer: leaky_re_lu_2\n    filters: "0-5"\nmethod: { scales: 2, stepsPerScale: 2 }\nbatch: { size: 3 }\ndataset: { source: imagenet-sample, limit: 8, topK: 2, batchSize: 8 }\nprobes:\n  - image: photos/chelsea.png\n    layer: leaky_re_lu_2\n`);
    const built = await cli(['build', config, '--output', join(work, 'out'), '--json']);
    expect(built.code, built.stderr).toBe(0);
    expect(built.stderr).toContain('probe photos/chelsea.png at leaky_re_lu_2: skipped, 1 of the 32 channel means of leaky_re_lu_2 are not finite');
    const dir = join(work, 'out', 'nan');
    const atlas = await readAtlas(dir);
    const filters = atlas.layers[0].filters;
    expect(filters.map((f) => f.filter)).toEqual([0, 1, 2, 3, 4, 5]);
    // The NaN reaches every filter's gradient through the shared layers: each is flagged, none crashes the build.
    for (const filter of filters) expect(filter.flags.diverged || filter.status !== 'failed').toBe(true);
    expect(filters[3]).toMatchObject({ status: 'failed', flags: { diverged: true } });
    expect(filters[3].stats).toBeUndefined();
    expect(filters[2].stats).toBeDefined();
    expect(atlas.probes).toEqual([]);
    expect(await consistencyProblems(dir)).toEqual([]);
    const again = await cli(['build', config, '--output', join(work, 'out'), '--json']);
    expect(JSON.parse(again.stdout.trim())).toMatchObject({ filtersComputed: 0, datasetScanned: false });
  });
});
