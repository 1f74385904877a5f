/**
 * Loading diffs for the site: validation errors that name diff.json, the two sides resolved to
 * the site's atlases (linked only to the build the diff compared), paths kept inside the atlas
 * folders, and the files diff pages show copied under the right URLs.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DIFF_SCHEMA_VERSION, diffSchema, type AtlasDiff, type FilterDiff } from '../../pipeline/diff/schema.js';
import { diffsOfAtlas, loadDiffs } from '../../site/src/lib/diffs.js';
import { diffImageRef, diffPageFiles, fixed, sideFilterUrl, TOP_IMAGE_ROWS } from '../../site/src/lib/diff-view.js';
import { copyReferencedFiles, fileRoots, servedFile } from '../../site/src/lib/files.js';
import type { SiteAtlas, SiteData } from '../../site/src/lib/site-types.js';
import { makeUrls } from '../../site/src/lib/urls.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'filter-atlas-site-diffs-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

const ref = (id: string, createdAt: string) => ({
  id,
  title: `atlas ${id}`,
  path: `../../${id}`,
  createdAt,
  model: { name: 'darknet-tiny', spec: 'darknet-tiny', version: 'v1', weightsDigest: 'ab'.repeat(32) },
  engine: 'onnxruntime cpu',
});

function unit(atlas: string, filter: number, top: string[]): FilterDiff['a'] {
  return {
    filter,
    status: 'ok',
    dead: false,
    image: `../../${atlas}/files/viz-${filter}/viz.png`,
    thumb: `../../${atlas}/files/viz-${filter}/thumb.webp`,
    activation: 4,
    datasetMean: 1,
    datasetStd: 0.5,
    top: top.map((file, i) => ({ file, mean: 3 - i, thumb: `../../${atlas}/files/scan/thumbs/${file}.webp` })),
  };
}

/** A schema-valid diff of `rows` units of one layer, unit i of A matched to unit i+1 of B. */
function makeDiff(a: string, b: string, rows: number): AtlasDiff {
  const filters = Array.from({ length: rows }, (_, i): FilterDiff => ({
    layer: 'conv2d_1',
    rank: i + 1,
    score: 0.5 - i / (2 * rows),
    status: i === 0 ? 'changed' : 'unchanged',
    a: unit(a, i, ['x.JPEG', `a${i}.JPEG`]),
    b: unit(b, i + 1, ['x.JPEG', `b${i}.JPEG`]),
    signals: { correlation: 0.9, topOverlap: 0.5 },
    components: { correlation: 0.1, topOverlap: 0.5 },
  }));
  return diffSchema.parse({
    schemaVersion: DIFF_SCHEMA_VERSION,
    createdAt: '2026-11-27T10:00:00.000Z',
    a: ref(a, '2026-11-01T00:00:00.000Z'),
    b: ref(b, '2026-11-02T00:00:00.000Z'),
    dataset: { name: 'imagenet-sample', digest: 'cd'.repeat(32), images: 40 },
    scoring: { description: 'weighted mean', weights: { correlation: 1 }, thresholds: { drifted: 0.1, changed: 0.3 }, matching: { description: 'lsa', minCorrelation: 0.9, minGain: 0.05 } },
    summary: { unchanged: rows - 1, drifted: 0, changed: 1, died: 0, revived: 0, dead: 0, total: rows, changedLayers: ['conv2d_1'], driftedLayers: [], permutedLayers: ['conv2d_1'] },
    layers: [{
      name: 'conv2d_1', channels: rows + 1, compared: rows, notCompared: [], counts: { unchanged: rows - 1, drifted: 0, changed: 1, died: 0, revived: 0, dead: 0 },
      meanScore: 0.2, maxScore: 0.5, status: 'changed', permuted: true,
      matches: Array.from({ length: rows }, (_, i) => ({ a: i, b: i + 1, correlation: 0.99 })), matchedCorrelation: 0.99, identityCorrelation: 0.1,
    }],
    filters,
    warnings: [],
    seconds: 1,
  });
}

/** A site atlas as load.ts makes it, with the fields the diff code reads. */
function siteAtlas(output: string, id: string, createdAt: string, filters: number[]): SiteAtlas {
  const layer = { name: 'conv2d_1', filters: filters.map((filter) => ({ filter })) };
  return { slug: id, dir: join(output, id), atlas: { id, createdAt, layers: [layer], probes: [] }, layers: [{ slug: 'conv2d_1', layer }], probes: [] } as unknown as SiteAtlas;
}

async function writeDiff(output: string, name: string, content: unknown): Promise<string> {
  const dir = join(output, 'diffs', name);
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'diff.json'), typeof content === 'string' ? content : JSON.stringify(content));
  return join(dir, 'diff.json');
}

/** Writes a small WebP or PNG at every file path a diff names, inside `output`. */
async function writeImages(diffDir: string, diff: AtlasDiff): Promise<void> {
  const image = sharp({ create: { width: 8, height: 6, channels: 3, background: '#48c' } });
  for (const f of diff.filters) {
    for (const side of [f.a, f.b]) {
      for (const path of [side.image, side.thumb, ...side.top.map((t) => t.thumb)]) {
        if (!path) continue;
        const file = join(diffDir, path);
        await mkdir(join(file, '..'), { recursive: true });
        await writeFile(file, await (path.endsWith('.png') ? image.clone().png() : image.clone().webp()).toBuffer());
      }
    }
  }
}

describe('loadDiffs', () => {
  it('is empty without a diffs folder and skips folders without diff.json', async () => {
    const output = join(tmp, 'none');
    expect(await loadDiffs(output, [])).toEqual([]);
    await mkdir(join(output, 'diffs', 'half-written'), { recursive: true });
    expect(await loadDiffs(output, [])).toEqual([]);
  });

  it('names diff.json when it is not JSON, of another schema version, or invalid', async () => {
    const output = join(tmp, 'broken');
    const file = await writeDiff(output, 'a__b', '{"schemaVersion": 1,');
    await expect(loadDiffs(output, [])).rejects.toThrow(`${file}: expected a readable JSON diff, received`);
    await writeDiff(output, 'a__b', { schemaVersion: 0 });
    await expect(loadDiffs(output, [])).rejects.toThrow(`${file} (schemaVersion): expected diff schema version ${DIFF_SCHEMA_VERSION}, received 0 (number). Rerun \`filter-atlas diff`);
    const { summary, ...rest } = makeDiff('a', 'b', 1);
    const { driftedLayers: _dropped, ...older } = summary;
    await writeDiff(output, 'a__b', { ...rest, summary: older });
    await expect(loadDiffs(output, [])).rejects.toThrow(`${file}: expected a diff.json matching the diff schema, received summary.driftedLayers:`);
  });

  it('refuses a file path that leaves its atlas folder', async () => {
    const output = join(tmp, 'escape');
    const diff = makeDiff('a', 'b', 1);
    diff.filters[0].b.thumb = '../../a/files/viz-0/thumb.webp';
    const file = await writeDiff(output, 'a__b', diff);
    await expect(loadDiffs(output, [])).rejects.toThrow(
      `${file}: expected file paths of atlas B inside its folder ${join(output, 'b')}, received "../../a/files/viz-0/thumb.webp"`,
    );
  });

  it('links a side only to the build it compared, and serves files of an atlas the site lacks from the diff', async () => {
    const output = join(tmp, 'sides');
    const diff = makeDiff('a', 'b', 2);
    await writeDiff(output, 'a__b', diff);
    await writeImages(join(output, 'diffs', 'a__b'), diff);
    // A: the very build; B: absent from the site (an atlas.json it does not publish).
    const a = siteAtlas(output, 'a', diff.a.createdAt, [0, 1]);
    const [loaded] = await loadDiffs(output, [a]);
    expect(loaded.slug).toBe('a__b');
    expect([loaded.a.site, loaded.a.linked, loaded.a.dir]).toEqual([a, true, join(output, 'a')]);
    expect([loaded.b.site, loaded.b.linked]).toEqual([undefined, false]);
    expect(diffsOfAtlas([loaded], a)).toEqual([{ diff: loaded, as: ['a'] }]);

    const urls = makeUrls('/x/');
    expect(sideFilterUrl(urls, loaded.a, 'conv2d_1', 1)).toBe('/x/a/conv2d_1/1/');
    expect(sideFilterUrl(urls, loaded.a, 'conv2d_1', 2)).toBeUndefined();
    expect(sideFilterUrl(urls, loaded.b, 'conv2d_1', 1)).toBeUndefined();
    expect(await diffImageRef(urls, loaded, loaded.a, diff.filters[0].a.thumb!)).toEqual({ src: '/x/files/a/files/viz-0/thumb.webp', width: 8, height: 6 });
    expect(await diffImageRef(urls, loaded, loaded.b, diff.filters[0].b.thumb!)).toEqual({ src: '/x/files/diffs/a__b/b/files/viz-1/thumb.webp', width: 8, height: 6 });

    // The copy: A's diff files join A's own root (one copy), B's get a root of their own.
    const data = { outputDir: output, atlases: [a], diffs: [loaded] } as unknown as SiteData;
    const roots = fileRoots(data);
    expect(roots.map((r) => r.segments)).toEqual([['a'], ['diffs', 'a__b', 'b']]);
    expect([...roots[1].files.keys()]).toEqual(['files/scan/thumbs/b0.JPEG.webp', 'files/scan/thumbs/b1.JPEG.webp', 'files/scan/thumbs/x.JPEG.webp', 'files/viz-1/thumb.webp', 'files/viz-2/thumb.webp']);
    expect(servedFile(roots, ['diffs', 'a__b', 'b', 'files', 'viz-1', 'thumb.webp'])).toBe(join(output, 'b', 'files', 'viz-1', 'thumb.webp'));
    expect(servedFile(roots, ['diffs', 'a__b', 'b', 'files', 'viz-1', 'viz.png'])).toBeUndefined();
    const dist = join(tmp, 'sides-dist');
    expect((await copyReferencedFiles(data, dist)).files).toBe(10);
    expect(await readFile(join(dist, 'files', 'diffs', 'a__b', 'b', 'files', 'viz-2', 'thumb.webp'))).toEqual(await readFile(join(output, 'b', 'files', 'viz-2', 'thumb.webp')));

    // Another build of A on the site: images still come from A's folder, units are not linked.
    const rebuilt = siteAtlas(output, 'a', '2026-11-20T00:00:00.000Z', [0, 1]);
    const [stale] = await loadDiffs(output, [rebuilt]);
    expect([stale.a.site, stale.a.linked]).toEqual([rebuilt, false]);
    expect(sideFilterUrl(urls, stale.a, 'conv2d_1', 1)).toBeUndefined();
  });

  it('names diff.json and the atlas folder when a file it shows is missing', async () => {
    const output = join(tmp, 'missing');
    const diff = makeDiff('a', 'b', 1);
    const file = await writeDiff(output, 'a__b', diff);
    const [loaded] = await loadDiffs(output, []);
    await expect(diffImageRef(makeUrls('/'), loaded, loaded.a, diff.filters[0].a.thumb!)).rejects.toThrow(
      `${file}: expected the file it references, "../../a/files/viz-0/thumb.webp" (in atlas A, ${join(output, 'a')}), received no such file. The atlas folder moved`,
    );
    const data = { outputDir: output, atlases: [], diffs: [loaded] } as unknown as SiteData;
    await expect(copyReferencedFiles(data, join(tmp, 'missing-dist'))).rejects.toThrow(`${file}: expected the file it references`);
  });
});

describe('diff pages', () => {
  it(`show top images for the first ${TOP_IMAGE_ROWS} rows only`, async () => {
    const output = join(tmp, 'long');
    await writeDiff(output, 'a__b', makeDiff('a', 'b', TOP_IMAGE_ROWS + 2));
    const [loaded] = await loadDiffs(output, []);
    const files = diffPageFiles(loaded, loaded.a);
    expect(files.filter((f) => f.includes('/thumbs/a')).length).toBe(TOP_IMAGE_ROWS);
    expect(files.filter((f) => f.endsWith('thumb.webp')).length).toBe(TOP_IMAGE_ROWS + 2);
    expect(files.some((f) => f.endsWith('viz.png'))).toBe(false);
  });

  it('print scores with fixed decimals and no negative zero', () => {
    expect([fixed(1.6e-7, 3), fixed(-1e-17, 2), fixed(0.99999, 2), fixed(null, 2), fixed(undefined, 2), fixed(0.0466, 3)]).toEqual(['0.000', '0.00', '1.00', '—', '—', '0.047']);
  });
});
