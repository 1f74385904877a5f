/**
 * Atlases with the lucid method, built for real (darknet-tiny, a few filters, short runs): config/lucid.yaml
 * loads with Lucid's defaults and builds; an atlas listing both methods records both pictures of every
 * filter, the article's unchanged (the same keys and bytes as an article-only build), and a rerun reuses both.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { testBuildDeps } from './build-deps.js';
import { beforeAll, describe, expect, it } from 'vitest';
import { runBuild, type BuildDeps } from '../../pipeline/atlas/build.js';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { loadConfig, type Config } from '../../pipeline/config/load.js';
import type { Method } from '../../pipeline/schema/method.js';


function deps(config: Config): BuildDeps {
  return testBuildDeps(config, { now: () => new Date('2026-11-30T00:00:00Z') });
}

/** A lucid method made short enough for a test (the config's other fields kept). */
const short = (method: Method): Method => (method.kind === 'lucid' ? { kind: 'lucid', params: { ...method.params, size: 48, steps: 6 } } : method);

async function readAtlas(dir: string): Promise<Atlas> {
  return atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
}

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-lucid-'));
});

describe('config/lucid.yaml', () => {
  it("loads with Lucid's defaults on every default layer and builds (filters cut to two, runs shortened)", async () => {
    const config = await loadConfig(resolve('config/lucid.yaml'));
    expect(config.layers.map((l) => l.layer)).toEqual(['leaky_re_lu_2', 'leaky_re_lu_6', 'leaky_re_lu_10', 'conv2d_16']);
    for (const layer of config.layers) {
      expect(layer.methods).toHaveLength(1);
      expect(layer.methods[0]).toMatchObject({ kind: 'lucid', params: { size: 224, steps: 128, learningRate: 0.05, decorrelate: true, objective: 'channel' } });
    }
    config.output = join(work, 'lucid');
    config.layers = config.layers.map((layer) => ({ ...layer, filters: [0, 1], methods: layer.methods.map(short) }));
    config.dataset = { ...config.dataset!, limit: 8, topK: 2, batchSize: 8 };
    const summary = await runBuild(config, deps(config));
    expect(summary).toMatchObject({ filtersComputed: 8, filtersReused: 0 });
    const atlas = await readAtlas(join(work, 'lucid', config.atlas));
    expect(atlas.method.kind).toBe('lucid');
    expect(atlas.method.description).toContain('Fourier');
    for (const layer of atlas.layers) {
      // Six steps can leave an early filter below the dead threshold (measured: leaky_re_lu_2 filter 0);
      // every filter still has its picture, and the class filters rise.
      expect(layer.filters.every((f) => f.status !== 'failed' && f.image !== undefined)).toBe(true);
      if (layer.name === 'conv2d_16') expect(layer.filters.map((f) => f.status)).toEqual(['ok', 'ok']);
    }
    // The superstimulus ratio holds for lucid pictures too: every filter whose best photo of the 8 has a
    // positive mean gets one (measured: all but leaky_re_lu_6 filter 0, whose best photo's mean is not positive).
    const ratios = atlas.layers.flatMap((layer) => layer.filters.map((f) => f.superstimulus));
    expect(ratios.filter((r) => typeof r === 'number').length).toBeGreaterThanOrEqual(7);
    for (const filter of atlas.layers[3].filters) expect(filter.superstimulus).toBeTypeOf('number');
  });
});

describe('both methods in one atlas', () => {
  const text = (methods: string) => `atlas: both
model: darknet-tiny
seed: 0
method: ${methods}
layers:
  - layer: leaky_re_lu_6
    filters: "0-2"
    method: { kind: article, scales: 2 }
  - layer: conv2d_16
    filters: "0-2"
batch: { size: 3 }
dataset: { source: imagenet-sample, limit: 8, topK: 2, batchSize: 8 }
`;
  const article = '{ kind: article, startSize: 32, scales: 2, stepsPerScale: 3 }';

  async function build(name: string, methods: string): Promise<{ atlas: Atlas; dir: string; computed: number; config: Config }> {
    const file = join(work, `${name}.yaml`);
    await writeFile(file, text(methods));
    const config = await loadConfig(file);
    config.output = join(work, name);
    config.layers = config.layers.map((layer) => ({ ...layer, methods: layer.methods.map(short) }));
    const summary = await runBuild(config, deps(config));
    const dir = join(work, name, 'both');
    return { atlas: await readAtlas(dir), dir, computed: summary.filtersComputed, config };
  }

  it("records each filter's lucid picture beside the article's, which stays as an article-only build draws it", async () => {
    const both = await build('both', `[${article}, { kind: lucid }]`);
    const alone = await build('alone', article);
    // A layer's block without a kind in a two-method atlas is refused; here the layer named its kind,
    // so leaky_re_lu_6 has the article's method alone, and conv2d_16 both.
    const [early, classes] = both.atlas.layers;
    expect(early.otherMethods).toBeUndefined();
    expect(classes.method?.kind).toBe('article');
    expect(classes.otherMethods?.map((m) => m.kind)).toEqual(['lucid']);
    for (const filter of classes.filters) {
      expect(filter.others).toHaveLength(1);
      expect(filter.others![0]).toMatchObject({ kind: 'lucid', status: 'ok' });
      expect(filter.others![0].superstimulus).toBeTypeOf('number');
      expect(filter.others![0].key).not.toBe(filter.key);
    }
    // Article pictures: the same keys and the same bytes as without the lucid method.
    for (const [l, layer] of both.atlas.layers.entries()) {
      for (const [i, filter] of layer.filters.entries()) {
        const twin = alone.atlas.layers[l].filters[i];
        expect(filter.key).toBe(twin.key);
        expect((await readFile(join(both.dir, filter.image!))).equals(await readFile(join(alone.dir, twin.image!)))).toBe(true);
      }
    }
    // A rerun reuses every picture of both methods.
    expect((await runBuild(both.config, deps(both.config))).filtersComputed).toBe(0);
  });

  it('asks for the kind of a layer block when the atlas lists two methods', async () => {
    const file = join(work, 'ambiguous.yaml');
    await writeFile(file, `model: darknet-tiny\nmethod: [{ kind: article }, { kind: lucid }]\nlayers:\n  - layer: conv2d_16\n    method: { steps: 4 }\n`);
    await expect(loadConfig(file)).rejects.toThrow(`${file}:5: layers[0].method: expected a \`kind\` (article or lucid)`);
    await writeFile(file, `model: darknet-tiny\nmethod: [{ kind: lucid }, { kind: lucid, steps: 3 }]\nlayers: [conv2d_16]\n`);
    await expect(loadConfig(file)).rejects.toThrow('method[1].kind: expected each method kind once in the list, received "lucid" again.');
    await writeFile(file, `model: darknet-tiny\nmethod: { kind: lucid, stepz: 3 }\nlayers: [conv2d_16]\n`);
    await expect(loadConfig(file)).rejects.toThrow(`${file}:2: method.stepz: unknown field. Allowed here: size, steps,`);
  });
});
