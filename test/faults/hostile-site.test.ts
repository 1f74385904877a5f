/**
 * Hostile inputs to the site. A real build whose config title, dataset labels (classes.tsv) and probe
 * photo name hold HTML and script, a diff of it, then atlas.json and diff.json edited by hand (HTML in
 * the model and layer names, the diff's warnings): the site builds, and chromium opens every page
 * type and the search page (with hostile queries) without a dialog or a request an injected element
 * would make. Then files that would publish what lies outside the output folder (symlinked images,
 * charts and folders, a diff side elsewhere, path traversal) or unsafe bytes on the site's origin (a
 * scripted SVG, HTML named .png, an .html file): each fails the site build naming the atlas.json or
 * diff.json that points at it, and dist/ gets none of those bytes.
 */
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { loadSiteData } from '../../site/src/lib/load.js';
import { makeUrls } from '../../site/src/lib/urls.js';
import { NO_DOMINANT } from '../../site/src/lib/format.js';
import { ARTIFACTS, buildSite, filesUnder as distFiles, openBrowser, type Browser } from '../site/harness.js';
import { serveStatic, type StaticSite } from '../site/serve.js';
import { cli, recordFigures } from './harness.js';

const BASE = '/hostile/';

/** Strings that run script if any page or the search UI ever inserts them as HTML; `x` is what their elements request. */
const HOSTILE = [
  `<img src=x onerror=alert('img')>`,
  `"><svg onload=alert('attr')>`,
  `</script><script>alert('script')</script>`,
  `' onmouseover='alert(1)' x='`,
  `<iframe srcdoc="<script>alert('iframe')</script>">`,
  `&lt;img src=x onerror=alert('escaped')&gt;`,
  `javascript:alert('url')`,
  `<a href="javascript:alert('link')">x</a>`,
];

let work: string;
let output: string;
let atlasDir: string;
let distParent: string;
let site: StaticSite | undefined;
let browser: Browser | undefined;
let hostileInputs = 0;

async function readAtlas(file: string): Promise<Atlas> {
  return atlasSchema.parse(JSON.parse(await readFile(file, 'utf8')));
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-hostile-'));
  output = join(work, 'output');
  // A dataset of 8 ImageNet photos whose classes.tsv names hold the hostile strings.
  const photos = join(work, 'photos');
  await mkdir(photos);
  const sample = await ensureAsset('imagenet-sample');
  const names = (await readdir(sample)).filter((n) => /^n\d{8}_.*\.JPEG$/.test(n)).sort().slice(0, 8);
  const rows = ['index\twnid\tname\tsynset_words'];
  for (const [i, name] of names.entries()) {
    await copyFile(join(sample, name), join(photos, name));
    rows.push(`${i}\t${name.slice(0, 9)}\ttench${HOSTILE[i]}\tsynset ${HOSTILE[i]}`);
  }
  await writeFile(join(photos, 'classes.tsv'), rows.join('\n') + '\n');
  // The probe photo's file name is hostile too (it is drawn into the chart and shown on the probe page).
  const probePhoto = `cat${HOSTILE[0].replace(/\//g, '')}.png`;
  await copyFile(join(await ensureAsset('photos'), 'chelsea.png'), join(work, probePhoto));
  const title = `Mine ${HOSTILE.join(' ')}`;
  await writeFile(
    join(work, 'hostile.yaml'),
    [
      'atlas: hostile',
      `title: ${JSON.stringify(title)}`,
      'model: darknet-tiny',
      'layers:',
      '  - layer: leaky_re_lu_2',
      '    filters: "0-3"',
      '  - layer: conv2d_16',
      '    filters: [0, 1]',
      'method: { scales: 2, stepsPerScale: 2 }',
      'batch: { size: 4 }',
      `dataset: { source: ${JSON.stringify(photos)}, topK: 3, batchSize: 8 }`,
      'probes:',
      `  - image: ${JSON.stringify(probePhoto)}`,
      '    layer: conv2d_16',
      '    top: 3',
    ].join('\n') + '\n',
  );
  const built = await cli(['build', join(work, 'hostile.yaml'), '--output', output]);
  expect(built.code, built.stderr).toBe(0);
  atlasDir = join(output, 'hostile');
  const diffDir = join(output, 'diffs', 'hostile__hostile');
  const diffed = await cli(['diff', atlasDir, atlasDir, '--out', diffDir]);
  expect(diffed.code, diffed.stderr).toBe(0);

  // Hand edits: HTML in the model and layer names (atlas.json) and in the diff's layer names and warnings.
  const atlas = await readAtlas(join(atlasDir, 'atlas.json'));
  atlas.model.name = `darknet ${HOSTILE[1]}`;
  atlas.layers[0].name = `leaky ${HOSTILE[0]}`;
  atlas.probes[0].layer = atlas.layers[1].name;
  await writeFile(join(atlasDir, 'atlas.json'), JSON.stringify(atlas));
  const diffFile = join(diffDir, 'diff.json');
  const diff = JSON.parse(await readFile(diffFile, 'utf8')) as { warnings: string[]; layers: { name: string }[]; filters: { layer: string }[] };
  diff.warnings = HOSTILE.slice(2);
  const renamed = new Map(diff.layers.map((l, i) => [l.name, `${l.name} ${HOSTILE[i + 3]}`]));
  for (const layer of diff.layers) layer.name = renamed.get(layer.name)!;
  for (const filter of diff.filters) filter.layer = renamed.get(filter.layer)!;
  await writeFile(diffFile, JSON.stringify(diff));
  // title (8), labels and synset words (16), photo name, model name, layer name, diff warnings (6) and layer names.
  hostileInputs += HOSTILE.length + 2 * names.length + 1 + 1 + 1 + diff.warnings.length + diff.layers.length;

  await mkdir(ARTIFACTS, { recursive: true });
  distParent = await mkdtemp(join(ARTIFACTS, 'build-hostile-'));
});

afterAll(async () => {
  await browser?.context.close();
  await site?.close();
  await rm(distParent, { recursive: true, force: true });
  await recordFigures('hostile-site', { hostileInputs });
});

describe('hostile strings in titles, labels, names and diffs', () => {
  it('every page type and the search page show them as text: no dialog, no injected element', async () => {
    const dist = join(distParent, 'dist');
    await buildSite(output, dist, BASE);
    site = await serveStatic(dist, BASE);
    browser = await openBrowser(join(work, 'profile'));
    const { page } = browser;
    const dialogs: string[] = [];
    const injected: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(`${page.url()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('request', (request) => {
      if (/\/x$/.test(new URL(request.url()).pathname)) injected.push(`${page.url()} requested ${request.url()}`);
    });

    const data = await loadSiteData(output);
    const urls = makeUrls(BASE);
    const [siteAtlas] = data.atlases;
    const pages = [
      urls.home(),
      urls.atlas(siteAtlas),
      ...siteAtlas.layers.flatMap((entry) => [urls.layer(siteAtlas, entry), urls.filter(siteAtlas, entry, entry.layer.filters[0].filter)]),
      ...siteAtlas.probes.map((probe) => urls.probe(siteAtlas, probe)),
      urls.diffs(),
      ...data.diffs.map((diff) => urls.diff(diff)),
      `${BASE}no-such-page/`,
    ];
    const texts: string[] = [];
    for (const url of pages) {
      await page.goto(`${site.origin}${url}`);
      await page.waitForLoadState('load');
      texts.push((await page.locator('body').textContent()) ?? '');
    }
    // The hostile class names are shown as text (the filter pages' top images and their classes).
    expect(texts.some((text) => HOSTILE.some((h) => text.includes(`tench${h}`)))).toBe(true);
    const title = siteAtlas.atlas.title;
    await page.goto(`${site.origin}${urls.atlas(siteAtlas)}`);
    expect(await page.locator('h1').first().textContent()).toContain(title);

    // Search: a label, and queries that are themselves hostile; the facets (atlas title, labels) render too.
    for (const query of ['tench', ...HOSTILE.slice(0, 3)]) {
      await page.goto(`${site.origin}${urls.search(query)}`);
      await page.waitForSelector('.pagefind-ui__message');
      await page.waitForSelector('.pagefind-ui__filter-label', { state: 'attached' });
    }
    // Facet values carry an invisible word joiner after each `<` and `&` (site/src/lib/format.ts facetValue).
    const facets = (await page.locator('.pagefind-ui__filter-label').allTextContents()).map((text) => text.replaceAll('\u2060', ''));
    expect(facets.some((text) => text.includes(title))).toBe(true);
    // No class holds most of a filter's top 3 of these 8 photos, so the label facet says so (labels/dominant.ts).
    expect(facets.some((text) => text.includes(NO_DOMINANT))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'hostile-search.png'), fullPage: true });

    expect(dialogs).toEqual([]);
    expect(injected).toEqual([]);
    hostileInputs += 3;
  });
});

describe('files that would publish what lies outside the output folder, or unsafe bytes', () => {
  let outside: string;
  let secretPng: Buffer;

  beforeAll(async () => {
    outside = join(work, 'outside');
    await mkdir(join(outside, 'folder'), { recursive: true });
    secretPng = await sharp({ create: { width: 7, height: 5, channels: 3, background: '#c0ffee' } }).png().toBuffer();
    await writeFile(join(outside, 'secret.png'), secretPng);
    await writeFile(join(outside, 'secret.svg'), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4"/></svg>');
    await writeFile(join(outside, 'folder', 'viz.png'), secretPng);
    await writeFile(join(outside, 'folder', 'thumb.webp'), await sharp(secretPng).webp().toBuffer());
  });

  /** A fresh copy of the hostile output folder with one attack applied; the atlas and its first filter. */
  async function attack(name: string, apply: (copy: string, atlas: Atlas) => Promise<Atlas | void>): Promise<string> {
    const copy = join(work, `attack-${name}`);
    await cp(output, copy, { recursive: true });
    const atlasFile = join(copy, 'hostile', 'atlas.json');
    // The copy's filters show their PNG and thumbnail, as an atlas without web images does (schema 1):
    // the files these attacks replace are then the ones the pages publish.
    const atlas = await readAtlas(atlasFile);
    for (const layer of atlas.layers) for (const filter of layer.filters) delete filter.web;
    await writeFile(atlasFile, JSON.stringify(atlas));
    const changed = await apply(join(copy, 'hostile'), atlas);
    if (changed) await writeFile(atlasFile, JSON.stringify(changed));
    hostileInputs += 1;
    return copy;
  }

  const firstImage = (atlas: Atlas) => atlas.layers[1].filters[0].image!;
  const replaceWithLink = async (dir: string, file: string, target: string) => {
    await rm(join(dir, file));
    await symlink(target, join(dir, file));
  };

  it.each([
    ['symlinked-png', async (dir: string, atlas: Atlas) => replaceWithLink(dir, firstImage(atlas), join(outside, 'secret.png')), /a link to .*outside\/secret\.png, outside it/],
    ['symlinked-svg', async (dir: string, atlas: Atlas) => replaceWithLink(dir, atlas.probes[0].chart, join(outside, 'secret.svg')), /a link to .*outside\/secret\.svg, outside it/],
    ['symlinked-folder', async (dir: string, atlas: Atlas) => {
      const folder = join(dir, firstImage(atlas), '..');
      await rm(folder, { recursive: true });
      await symlink(join(outside, 'folder'), folder);
    }, /a link to .*outside\/folder\/(viz\.png|thumb\.webp), outside it/],
    ['system-file', async (dir: string, atlas: Atlas) => replaceWithLink(dir, atlas.layers[1].filters[0].thumb!, '/etc/hostname'), /a link to \/etc\/hostname, outside it/],
    ['traversal', async (_dir: string, atlas: Atlas) => {
      atlas.layers[1].filters[0].image = '../../outside/secret.png';
      return atlas;
    }, /expected file paths inside .*, received "\.\.\/\.\.\/outside\/secret\.png"/],
    ['scripted-svg', async (dir: string, atlas: Atlas) => {
      await writeFile(join(dir, atlas.probes[0].chart), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><script>alert(1)</script></svg>');
    }, /received an SVG with a <script> element/],
    ['svg-handler', async (dir: string, atlas: Atlas) => {
      await writeFile(join(dir, atlas.probes[0].chart), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4" onload="alert(1)"><rect width="4" height="4"/></svg>');
    }, /received an SVG with an event handler \(onload\)/],
    ['html-as-png', async (dir: string, atlas: Atlas) => {
      await writeFile(join(dir, firstImage(atlas)), '<html><script>alert(1)</script></html>');
    }, /received bytes that are not a PNG image/],
    ['html-file', async (dir: string, atlas: Atlas) => {
      await writeFile(join(dir, 'page.html'), '<script>alert(1)</script>');
      atlas.layers[1].filters[0].thumb = 'page.html';
      return atlas;
    }, /received a \.html file \(only \.png, \.webp, \.jpg, \.jpeg, \.svg, \.onnx are published\)/],
  ] as const)('%s: the site refuses to load, naming atlas.json', async (name, apply, message) => {
    const copy = await attack(name, apply);
    await expect(loadSiteData(copy)).rejects.toThrow(message);
    await expect(loadSiteData(copy)).rejects.toThrow(join(copy, 'hostile', 'atlas.json'));
  });

  it("a diff whose side points outside the output folder is refused, naming diff.json", async () => {
    const copy = await attack('diff-side', async () => undefined);
    await cp(join(copy, 'hostile'), join(outside, 'elsewhere'), { recursive: true });
    const diffFile = join(copy, 'diffs', 'hostile__hostile', 'diff.json');
    const diff = JSON.parse(await readFile(diffFile, 'utf8')) as { b: { path: string } };
    diff.b.path = '../../../outside/elsewhere';
    await writeFile(diffFile, JSON.stringify(diff));
    await expect(loadSiteData(copy)).rejects.toThrow(`${diffFile} (b.path): expected the folder of atlas B inside the output folder ${copy}, received "../../../outside/elsewhere"`);
  });

  it('a link inside the output folder is fine', async () => {
    const copy = await attack('inner-link', async (dir, atlas) => {
      const other = atlas.layers[1].filters[1].image!;
      await replaceWithLink(dir, firstImage(atlas), join(dir, other));
    });
    hostileInputs -= 1;
    await expect(loadSiteData(copy)).resolves.toBeDefined();
  });

  it('the real site build fails on a symlinked image and dist/ holds none of its bytes', async () => {
    const copy = join(work, 'attack-symlinked-png');
    const dist = join(distParent, 'dist-attack');
    await expect(buildSite(copy, dist, BASE)).rejects.toThrow(/a link to .*outside\/secret\.png, outside it/);
    for (const file of await distFiles(dist).catch(() => [])) expect((await readFile(file)).equals(secretPng), file).toBe(false);
  });
});
