/**
 * Builds the atlas site from a fixture atlas into a temporary dist/, serves it under a non-root
 * base and drives Debian chromium through it: home -> atlas -> layer -> filter by clicks,
 * search by a label, a probe page. Every page: all images load, no console errors, a screenshot
 * in test-artifacts/site/. What to visit is read from atlas.json, not hard-coded.
 */
import { mkdir, mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { atlasSchema, type Atlas, type AtlasFilter, type AtlasLayer } from '../../pipeline/schema/atlas.js';
import { prepareSiteAtlas } from './fixture.js';
import { ARTIFACTS, buildSite, checkPage as check, openBrowser, referencedAndCopied, type Browser } from './harness.js';
import { serveStatic, type StaticSite } from './serve.js';

const BASE = '/atlas-test/';

let tmp: string;
let dist: string;
let distParent: string;
let atlas: Atlas;
let site: StaticSite;
let browser: Browser;
let page: Browser['page'];
/** Console errors, page errors and failed requests of the current page. */
let problems: string[];

/** Bytes a browser fetches for a built page: the HTML plus every same-site stylesheet, script and image it references. */
async function pageBytes(urlPath: string): Promise<{ html: number; assets: number; images: number; count: number }> {
  const file = join(dist, decodeURIComponent(urlPath.slice(BASE.length)), 'index.html');
  const html = await readFile(file, 'utf8');
  const refs = new Set([...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]).filter((u) => u.startsWith(BASE) && /\.[a-z0-9]+$/i.test(u)));
  let assets = 0;
  let images = 0;
  for (const ref of refs) {
    const size = (await stat(join(dist, decodeURIComponent(ref.slice(BASE.length))))).size;
    if (/\.(webp|png|jpe?g|svg)$/i.test(ref)) images += size;
    else assets += size;
  }
  return { html: Buffer.byteLength(html), assets, images, count: refs.size };
}

const human = (label: string) => label.replace(/_/g, ' ');

const checkPage = (name: string) => check(browser, name);

/** The layer to walk through (a dotted name when there is one: it must survive URLs) and a labelled live filter of it. */
function pickTarget(): { layer: AtlasLayer; filter: AtlasFilter; label: string } {
  const layers = [...atlas.layers].sort((a, b) => Number(b.name.includes('.')) - Number(a.name.includes('.')));
  for (const layer of layers) {
    const filter = layer.filters.find((f) => f.status === 'ok' && f.thumb && f.labels?.length);
    if (filter) return { layer, filter, label: human(filter.labels![0].label) };
  }
  throw new Error('the fixture atlas has no live filter with label candidates');
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'filter-atlas-site-'));
  const output = join(tmp, 'output');
  await mkdir(ARTIFACTS, { recursive: true });
  // dist/ inside the repo: Astro puts its server chunks in outDir only when outDir is under the
  // working directory (else in ./.astro/), and those chunks must resolve node_modules.
  distParent = await mkdtemp(join(ARTIFACTS, 'build-'));
  dist = join(distParent, 'dist');
  await prepareSiteAtlas(output);
  const [folder] = (await readdir(output)).filter((n) => n !== 'diffs');
  atlas = atlasSchema.parse(JSON.parse(await readFile(join(output, folder, 'atlas.json'), 'utf8')));

  const built = await buildSite(output, dist, BASE);
  console.log(`site build: ${built.seconds.toFixed(1)} s, ${built.files} files, ${(built.bytes / 1e6).toFixed(2)} MB`);

  site = await serveStatic(dist, BASE);
  browser = await openBrowser(join(tmp, 'profile'));
  ({ page, problems } = browser);
});

afterAll(async () => {
  await browser?.context.close();
  await site?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (distParent) await rm(distParent, { recursive: true, force: true });
});

describe('atlas site', () => {
  it('copies exactly the atlas files the pages reference', async () => {
    const { referenced, copied } = await referencedAndCopied(dist, BASE);
    expect(copied.length).toBeGreaterThan(0);
    expect(copied).toEqual(referenced);
  });

  it('walks home -> atlas -> layer -> filter by clicks', async () => {
    const { layer, filter } = pickTarget();
    problems.length = 0;
    await page.goto(`${site.origin}${BASE}`);
    await page.keyboard.press('Tab');
    expect(await page.evaluate<string>('document.activeElement.textContent')).toBe('Skip to content');
    await checkPage('home');

    await page.getByRole('link', { name: atlas.title, exact: true }).first().click();
    await expect.poll(() => page.locator('h1').textContent()).toBe(atlas.title);
    await checkPage('atlas');

    await page.getByRole('link', { name: layer.name, exact: true }).first().click();
    await expect.poll(() => page.locator('h1').textContent()).toContain(layer.name);
    const tiles = page.locator('#filters > li');
    expect(await tiles.count()).toBe(layer.filters.length);
    // The grid is in index order; thumbnails are sized, the first rows load at once and the rest lazily.
    const order = await tiles.evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-index'))));
    expect(order).toEqual([...layer.filters.map((f) => f.filter)].sort((a, b) => a - b));
    const thumbs = await page.locator('#filters img').evaluateAll((imgs) =>
      imgs.map((img) => [img.getAttribute('loading'), img.getAttribute('width'), img.getAttribute('height')]),
    );
    expect(thumbs.length).toBe(layer.filters.filter((f) => f.thumb).length);
    for (const [i, [loading, width, height]] of thumbs.entries()) expect([loading, Number(width) > 0, Number(height) > 0]).toEqual([i < 32 ? 'eager' : 'lazy', true, true]);
    for (const f of layer.filters.filter((x) => x.status !== 'ok')) {
      const tile = page.locator(`#filters > li[data-index="${f.filter}"]`);
      expect(await tile.getAttribute('class')).toContain(`is-${f.status}`);
      expect(await tile.textContent()).toContain(f.status);
    }
    await checkPage('layer');
    const bytes = await pageBytes(new URL(page.url()).pathname);
    console.log(
      `layer page ${layer.name} (${layer.filters.length} filters): ${bytes.html + bytes.assets + bytes.images} bytes ` +
        `= HTML ${bytes.html} + CSS/JS ${bytes.assets} + images ${bytes.images} (${bytes.count} files)`,
    );

    // Sorting by activation is a plain link (no script needed): the strongest filter first.
    await page.getByRole('navigation', { name: 'Sort filters' }).getByRole('link', { name: 'activation reached' }).click();
    await expect.poll(() => page.locator('nav[aria-label="Sort filters"] [aria-current="page"]').textContent()).toBe('activation reached');
    const activations = await tiles.evaluateAll((els) => els.map((el) => Number(el.getAttribute('data-activation'))));
    expect(activations).toEqual([...activations].sort((a, b) => b - a));
    await checkPage('layer-sorted');

    await page.locator(`#filters > li[data-index="${filter.filter}"] a`).click();
    await expect.poll(() => page.locator('h1').textContent()).toContain(`Filter ${filter.filter}`);
    expect(await page.locator('.top-images > li').count()).toBe(filter.top?.length ?? 0);
    for (const l of filter.labels ?? []) expect(await page.locator('.chips').textContent()).toContain(human(l.label));
    await checkPage('filter');
  });

  it('finds a filter by one of its labels and follows the result', async () => {
    const { label } = pickTarget();
    problems.length = 0;
    await page.goto(`${site.origin}${BASE}`);
    await page.fill('#site-q', label);
    await page.press('#site-q', 'Enter');
    const result = page.locator('.pagefind-ui__result-link').first();
    await result.waitFor({ timeout: 30_000 });
    await checkPage('search');
    await result.click();
    await page.waitForURL(/\/\d+\/$/);
    expect(await page.locator('main').textContent()).toContain(label);
    await checkPage('search-result');
  });

  it('has a diffs page that says there are none yet', async () => {
    problems.length = 0;
    await page.goto(`${site.origin}${BASE}`);
    await page.getByRole('navigation', { name: 'Site' }).getByRole('link', { name: 'Diffs' }).click();
    await expect.poll(() => page.locator('h1').textContent()).toBe('Diffs');
    expect(await page.locator('main .notice').textContent()).toContain('No diffs yet');
    await checkPage('diffs-empty');
  });

  it('shows every probe with its chart and links to its top filters', async () => {
    expect(atlas.probes.length, 'the fixture atlas needs a probe').toBeGreaterThan(0);
    for (const [i, probe] of atlas.probes.entries()) {
      problems.length = 0;
      await page.goto(`${site.origin}${BASE}`);
      await page.getByRole('link', { name: atlas.title, exact: true }).first().click();
      await page.getByRole('link', { name: probe.id, exact: true }).click();
      await expect.poll(() => page.locator('h1').textContent()).toContain(probe.id);
      expect(await page.locator(`img[alt^="Bar chart"]`).count()).toBe(1);
      await checkPage(i === 0 ? 'probe' : `probe-${i}`);
      // Filter links exist when the probed layer (or the conv it follows) was visualised.
      const links = page.locator('tbody a[href]:not([tabindex="-1"])');
      const count = await links.count();
      if (count === 0) continue;
      expect(count).toBe(probe.top.length);
      await links.first().click();
      await expect.poll(() => page.locator('h1').textContent()).toContain(`Filter ${probe.top[0].filter}`);
      expect(await page.locator('main').textContent()).toContain(probe.id);
      await checkPage(`probe-${i}-top-filter`);
    }
  });
});
