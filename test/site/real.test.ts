/**
 * End to end on real outputs: the CLI builds a small darknet-tiny atlas (test/fixtures/tiny.yaml),
 * a variant of the model with conv2d_2's units permuted, a second atlas of it with the same
 * config, and their diff; then the site is built from that output folder and chromium walks it:
 * home -> atlas -> layer -> filter, a search for a label the atlas holds, the probe page, the
 * diffs index and the diff page (thumbnails, the recovered permutation, links into both atlases).
 * Screenshots: test-artifacts/site/real-*.png. What to visit is read from atlas.json and diff.json.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { diffSchema, type AtlasDiff } from '../../pipeline/diff/schema.js';
import { slugify } from '../../site/src/lib/slug.js';
import { ARTIFACTS, buildEnv, buildSite, checkPage, openBrowser, REPO, referencedAndCopied, type Browser } from './harness.js';
import { serveStatic, type StaticSite } from './serve.js';

const BASE = '/atlas-real/';
const CONFIG = join(REPO, 'test/fixtures/tiny.yaml');
const PERMUTED_LAYER = 'conv2d_2';

let tmp: string;
let output: string;
let distParent: string;
let dist: string;
let atlas: Atlas;
let permuted: Atlas;
let diff: AtlasDiff;
let site: StaticSite;
let browser: Browser;

const human = (label: string) => label.replace(/_/g, ' ');

/** Runs the real CLI (bin/filter-atlas.js) in the temporary folder; logs how long each step took. */
async function cli(step: string, args: string[]): Promise<string> {
  const started = performance.now();
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO, 'bin/filter-atlas.js'), ...args], {
    cwd: tmp,
    env: buildEnv(),
    maxBuffer: 64 * 1024 * 1024,
  });
  console.log(`${step}: ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return stdout;
}

async function readJson<T>(file: string, schema: { parse(value: unknown): T }): Promise<T> {
  return schema.parse(JSON.parse(await readFile(file, 'utf8')));
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'filter-atlas-real-'));
  output = join(tmp, 'output');
  await mkdir(ARTIFACTS, { recursive: true });
  distParent = await mkdtemp(join(ARTIFACTS, 'build-real-'));
  dist = join(distParent, 'dist');

  await cli('build tiny', ['build', CONFIG, '--output', output]);
  const models = join(tmp, 'models', 'permuted');
  await cli('variant', ['variant', 'darknet-tiny', '--output', models, '--permute', PERMUTED_LAYER, '--seed', '1']);
  // The same config (layers, method, seed, dataset: the diff needs them equal), another model and id.
  const config = (await readFile(CONFIG, 'utf8'))
    .replace(/^atlas: .*$/m, 'atlas: tiny-permuted')
    .replace(/^title: .*$/m, `title: darknet-tiny test atlas, ${PERMUTED_LAYER} permuted`)
    .replace(/^model: .*$/m, `model: ${JSON.stringify(models)}`);
  expect(config).toContain('atlas: tiny-permuted');
  expect(config).toContain(`model: ${JSON.stringify(models)}`);
  await writeFile(join(tmp, 'permuted.yaml'), config);
  await cli('build tiny-permuted', ['build', join(tmp, 'permuted.yaml'), '--output', output]);
  const diffDir = join(output, 'diffs', 'tiny__tiny-permuted');
  await cli('diff', ['diff', join(output, 'tiny'), join(output, 'tiny-permuted'), '--output', diffDir]);

  atlas = await readJson(join(output, 'tiny', 'atlas.json'), atlasSchema);
  permuted = await readJson(join(output, 'tiny-permuted', 'atlas.json'), atlasSchema);
  diff = await readJson(join(diffDir, 'diff.json'), diffSchema);

  const built = await buildSite(output, dist, BASE);
  console.log(`site build: ${built.seconds.toFixed(1)} s, ${built.files} files, ${(built.bytes / 1e6).toFixed(2)} MB`);
  site = await serveStatic(dist, BASE);
  browser = await openBrowser(join(tmp, 'profile'));
});

afterAll(async () => {
  await browser?.context.close();
  await site?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (distParent) await rm(distParent, { recursive: true, force: true });
});

describe('site built from real atlases and their diff', () => {
  it('copies exactly the files the atlas and diff pages reference', async () => {
    const { referenced, copied } = await referencedAndCopied(dist, BASE);
    expect(copied.some((f) => f.startsWith('files/tiny/'))).toBe(true);
    expect(copied.some((f) => f.startsWith('files/tiny-permuted/'))).toBe(true);
    expect(copied).toEqual(referenced);
  });

  it('walks home -> atlas -> layer -> filter by clicks', async () => {
    const { page, problems } = browser;
    const layer = atlas.layers.find((l) => l.filters.some((f) => f.status === 'ok' && f.top?.length))!;
    const filter = layer.filters.find((f) => f.status === 'ok' && f.top?.length)!;
    problems.length = 0;
    await page.goto(`${site.origin}${BASE}`);
    expect(await page.locator('.cards > .card').count()).toBe(2);
    await checkPage(browser, 'real-home');

    await page.getByRole('link', { name: atlas.title, exact: true }).first().click();
    await expect.poll(() => page.locator('h1').textContent()).toBe(atlas.title);
    await checkPage(browser, 'real-atlas');

    await page.getByRole('link', { name: layer.name, exact: true }).first().click();
    await expect.poll(() => page.locator('h1').textContent()).toContain(layer.name);
    expect(await page.locator('#filters > li').count()).toBe(layer.filters.length);
    await checkPage(browser, 'real-layer');

    await page.locator(`#filters > li[data-index="${filter.filter}"] a`).click();
    await expect.poll(() => page.locator('h1').textContent()).toContain(`Filter ${filter.filter}`);
    expect(await page.locator('.top-images > li').count()).toBe(filter.top!.length);
    expect(await page.locator('.visual img').count()).toBe(1);
    await checkPage(browser, 'real-filter');
  });

  it("finds a filter by one of the atlas's label candidates and follows the result", async () => {
    const { page, problems } = browser;
    const labelled = atlas.layers.flatMap((l) => l.filters).find((f) => f.status === 'ok' && f.labels?.length);
    expect(labelled, 'the real atlas has a live filter with label candidates').toBeDefined();
    const label = human(labelled!.labels![0].label);
    problems.length = 0;
    await page.goto(`${site.origin}${BASE}`);
    await page.fill('#site-q', label);
    await page.press('#site-q', 'Enter');
    const result = page.locator('.pagefind-ui__result-link').first();
    await result.waitFor({ timeout: 30_000 });
    await checkPage(browser, 'real-search');
    await result.click();
    await page.waitForURL(/\/\d+\/$/);
    expect(await page.locator('main').textContent()).toContain(label);
    await checkPage(browser, 'real-search-result');
  });

  it('shows the probe with its chart', async () => {
    const { page, problems } = browser;
    const probe = atlas.probes[0];
    expect(probe, 'tiny.yaml has a probe').toBeDefined();
    problems.length = 0;
    await page.goto(`${site.origin}${BASE}`);
    await page.getByRole('link', { name: atlas.title, exact: true }).first().click();
    await page.getByRole('link', { name: probe.id, exact: true }).click();
    await expect.poll(() => page.locator('h1').textContent()).toContain(probe.id);
    expect(await page.locator('img[alt^="Bar chart"]').count()).toBe(1);
    expect(await page.locator('tbody tr').count()).toBe(probe.top.length);
    await checkPage(browser, 'real-probe');
  });

  it('lists the diff and shows it: counts, recovered permutation, thumbnails, links into both atlases', async () => {
    const { page, problems } = browser;
    // The variant reorders conv2d_2's units; the diff must find that as a permutation of the
    // layer after it, with every compared unit unchanged.
    expect(diff.summary.permutedLayers).toEqual(['leaky_re_lu_2']);
    expect(diff.summary.unchanged).toBe(diff.summary.total);
    const layer = diff.layers.find((l) => l.name === 'leaky_re_lu_2')!;

    problems.length = 0;
    await page.goto(`${site.origin}${BASE}`);
    await page.getByRole('navigation', { name: 'Site' }).getByRole('link', { name: 'Diffs' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Diffs');
    expect(await page.locator('tbody tr').count()).toBe(1);
    expect(await page.locator('tbody').textContent()).toContain(`${diff.summary.total} units`);
    await checkPage(browser, 'real-diffs');

    await page.getByRole('link', { name: `${diff.a.id} → ${diff.b.id}` }).click();
    await expect.poll(() => page.locator('h1').textContent()).toContain(diff.b.id);
    const rows = page.locator('#units-table tbody tr');
    expect(await rows.count()).toBe(diff.filters.length);
    expect(await rows.first().locator('td').first().textContent()).toBe('1');
    const thumbs = diff.filters.reduce((n, f) => n + Number(Boolean(f.a.thumb)) + Number(Boolean(f.b.thumb)), 0);
    expect(thumbs).toBeGreaterThan(0);
    expect(await page.locator('#units-table .viz-cell img').count()).toBe(thumbs);
    const matches = page.locator(`#matches-${slugify(layer.name)} li`);
    expect(await matches.count()).toBe(layer.matches.length);
    const first = layer.matches[0];
    expect((await matches.first().textContent())?.replace(/\s+/g, ' ')).toContain(`${first.a} → ${first.b}`);
    await checkPage(browser, 'real-diff');

    // Filtering by status (JS): every unit is unchanged, so "all but unchanged" hides every row.
    await page.selectOption('#status-filter', '-unchanged');
    expect(await page.locator('#units-table tbody tr:not([hidden])').count()).toBe(0);
    await page.selectOption('#status-filter', '');

    // A moved unit links to its own index in each atlas.
    const moved = diff.filters.find((f) => f.a.filter !== f.b.filter);
    expect(moved, 'a compared unit that matching moved').toBeDefined();
    const row = rows.nth(moved!.rank - 1);
    expect(await row.getByRole('link', { name: `A #${moved!.a.filter}` }).getAttribute('href')).toBe(`${BASE}tiny/${moved!.layer}/${moved!.a.filter}/`);
    await row.getByRole('link', { name: `B #${moved!.b.filter}` }).click();
    await expect.poll(() => page.locator('h1').textContent()).toContain(`Filter ${moved!.b.filter}`);
    expect(new URL(page.url()).pathname).toBe(`${BASE}tiny-permuted/${moved!.layer}/${moved!.b.filter}/`);
    expect(permuted.layers.find((l) => l.name === moved!.layer)?.filters.some((f) => f.filter === moved!.b.filter)).toBe(true);
    // The filter page lists the diff it was compared in, with the unit it was matched to.
    const inDiffs = page.locator('h2:text-is("In diffs") + ul > li');
    expect(await inDiffs.count()).toBe(1);
    expect((await inDiffs.textContent())?.replace(/\s+/g, ' ')).toContain(`as B, compared with A #${moved!.a.filter} (matched to another index); rank ${moved!.rank} of ${diff.filters.length}`);
    await checkPage(browser, 'real-diff-unit');

    // Each atlas page links to the diffs it is part of.
    for (const id of [diff.a.id, diff.b.id]) {
      await page.goto(`${site.origin}${BASE}${id}/`);
      expect(await page.locator('#diffs + .diff-list a').getAttribute('href')).toBe(`${BASE}diffs/tiny__tiny-permuted/`);
    }
  });
});
