/**
 * Layers by the name the user typed, on a real ONNX export: torchvision's mobilenet_v3_small (seeded
 * weights, test/torch/fixtures.py) built with `layer: features.4`, whose node is
 * `/features/features.4/block/block.3/block.3.0/Conv`. The site names the layer `features.4` (title,
 * card, URL) with the node name as a secondary line that wraps inside its card on a phone, and the
 * layer's old node-name URLs (its page and its filters') move the browser to the new ones.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runBuild } from '../../pipeline/atlas/build.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { atlasSchema } from '../../pipeline/schema/atlas.js';
import { testBuildDeps } from '../atlas/build-deps.js';
import { torchFixtures } from '../torch/fixtures.js';
import { ARTIFACTS, buildSite, checkPage, openBrowser, PHONE, type Browser } from './harness.js';
import { serveStatic, type StaticSite } from './serve.js';

const fixtures = await torchFixtures();
const BASE = '/atlas/';
const NODE = '/features/features.4/block/block.3/block.3.0/Conv';
/** What the site called the layer before: its node name as a URL segment (slug.ts slugify). */
const OLD_SLUG = 'features-features.4-block-block.3-block.3.0-conv';

let tmp: string;
let distParent: string;
let site: StaticSite;
let browser: Browser;

beforeAll(async () => {
  if (!fixtures) return;
  const onnx = fixtures.cases.find((c) => c.arch === 'mobilenet_v3_small' && c.opset === 17)!.onnx;
  tmp = await mkdtemp(join(tmpdir(), 'filter-atlas-aliases-'));
  const file = join(tmp, 'mnv3.yaml');
  await writeFile(
    file,
    `atlas: mnv3\ntitle: mobilenet_v3_small by aliases\nmodel: ${JSON.stringify(join(fixtures.dir, onnx))}\nseed: 0\n` +
      `method: { startSize: 32, scales: 2, stepsPerScale: 2 }\nlayers:\n  - layer: features.4\n    filters: "0-3"\nbatch: { size: 4 }\n`,
  );
  const config = await loadConfig(file);
  config.output = join(tmp, 'output');
  await runBuild(config, testBuildDeps(config));
  await mkdir(ARTIFACTS, { recursive: true });
  distParent = await mkdtemp(join(ARTIFACTS, 'aliases-'));
  await buildSite(config.output, join(distParent, 'dist'), BASE);
  site = await serveStatic(join(distParent, 'dist'), BASE);
  browser = await openBrowser(join(tmp, 'profile'));
}, 300_000);

afterAll(async () => {
  await browser?.context.close();
  await site?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (distParent) await rm(distParent, { recursive: true, force: true });
});

describe.skipIf(!fixtures)('layer aliases on the site (mobilenet_v3_small, ONNX)', () => {
  it('records the node name and its aliases in atlas.json', async () => {
    const atlas = atlasSchema.parse(JSON.parse(await readFile(join(tmp, 'output', 'mnv3', 'atlas.json'), 'utf8')));
    expect(atlas.layers[0].name).toBe(NODE);
    expect(atlas.layers[0].aliases).toEqual(['features.4', 'features.4.block', 'features.4.block.3', 'features.4.block.3.0']);
  });

  it('names the layer features.4 in its card, title and URL, with the node name wrapping inside the card', async () => {
    const { page } = browser;
    await page.goto(`${site.origin}${BASE}mnv3/`);
    const card = page.locator('li.card').first();
    expect(await card.locator('h3').textContent()).toBe('features.4');
    expect(await card.locator('h3 a').getAttribute('href')).toBe(`${BASE}mnv3/features.4/`);
    expect(await card.locator('.node-name').textContent()).toBe(`node ${NODE}`);
    await checkPage(browser, 'aliases-atlas');
    // On a phone the node name is wider than the card: it wraps, nothing sticks out.
    await page.setViewportSize(PHONE);
    // Browser-side code as a string: the project's tsconfig has no DOM types.
    const fits = await page.evaluate<{ card: number; inner: number; lines: number }>(
      `(() => { const card = document.querySelector('li.card'); const name = card.querySelector('.node-name'); const line = parseFloat(getComputedStyle(name).lineHeight); return { card: card.clientWidth, inner: card.scrollWidth, lines: Math.round(name.getBoundingClientRect().height / line) }; })()`,
    );
    expect(fits.inner).toBeLessThanOrEqual(fits.card);
    expect(fits.lines).toBeGreaterThan(1);
    await card.screenshot({ path: join(ARTIFACTS, 'aliases-layer-card-phone.png') });
    await page.setViewportSize({ width: 1200, height: 900 });

    await page.goto(`${site.origin}${BASE}mnv3/features.4/`);
    expect(await page.locator('h1').textContent()).toBe('Layer features.4');
    expect(await page.title()).toContain('features.4');
    expect(await page.locator('main .node-name').first().textContent()).toBe(`node ${NODE}`);
    await page.screenshot({ path: join(ARTIFACTS, 'aliases-layer-page.png') });

    // The browser probe offers the layer by the same name.
    await page.goto(`${site.origin}${BASE}mnv3/probe/`);
    expect(await page.locator('#probe-layer option').first().textContent()).toMatch(/^features\.4 \(40 filters/);
  });

  it('moves the old node-name URLs of the layer and of its filters to the alias URLs', async () => {
    const { page } = browser;
    await page.goto(`${site.origin}${BASE}mnv3/${OLD_SLUG}/`);
    await page.waitForURL(`${site.origin}${BASE}mnv3/features.4/`);
    await page.goto(`${site.origin}${BASE}mnv3/${OLD_SLUG}/2/`);
    await page.waitForURL(`${site.origin}${BASE}mnv3/features.4/2/`);
    expect(await page.locator('h1').textContent()).toContain('Filter 2');
  });
});
