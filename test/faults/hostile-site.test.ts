/**
 * Hostile inputs to the site. A real build whose config title, dataset labels (classes.tsv) and probe
 * photo name hold HTML and script, a diff of it, then atlas.json and diff.json edited by hand (HTML in
 * the model and layer names, the diff's warnings): the site builds, and chromium opens every page
 * type and the search page (with hostile queries) without a dialog or a request an injected element
 * would make. Then files that would publish what lies outside the output folder (symlinked images,
 * charts and folders, a diff side elsewhere, path traversal) or unsafe bytes on the site's origin (a
 * scripted SVG, HTML named .png, an .html file): each fails the site build naming the atlas.json or
 * diff.json that points at it, and dist/ gets none of those bytes.
 *
 * The browser probe offers layers named by the model (an ONNX node name may hold markup): chromium
 * runs it on a photo whose file name is hostile too, switches layers, and no handler or injected
 * element appears. SVGs whose attacks hide behind character references (`u&#114;l(`), foreign
 * namespaces or unused attributes are refused by an allow-list of what the charts hold. A file
 * swapped for a link (or its folder for a link to elsewhere) while the site copies it never puts the
 * outside bytes in dist/. Every page type runs under the site's Content-Security-Policy with no
 * violation, its scripts (grid keys, search, the diff's filters, the probe's wasm) working.
 */
import { execFile } from 'node:child_process';
import { copyFile, cp, mkdir, mkdtemp, readdir, readFile, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { atlasSchema, type Atlas } from '../../pipeline/schema/atlas.js';
import { renderProbeChart } from '../../pipeline/render/chart.js';
import { copyReferencedFiles } from '../../site/src/lib/files.js';
import { loadSiteData } from '../../site/src/lib/load.js';
import { unsafeSvg } from '../../site/src/lib/publish.js';
import type { SiteData } from '../../site/src/lib/site-types.js';
import { makeUrls } from '../../site/src/lib/urls.js';
import { NO_DOMINANT } from '../../site/src/lib/format.js';
import { ARTIFACTS, buildSite, filesUnder as distFiles, openBrowser, waitUntil, type Browser } from '../site/harness.js';
import type { Page } from 'playwright-core';
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
  // A name that leaves a quoted attribute: the browser probe puts the layer into its chart's aria-label.
  atlas.layers[1].name = `conv2d_16 ${HOSTILE[1]}${HOSTILE[0]}`;
  atlas.probes[0].layer = atlas.layers[1].name;
  // The layers the browser probe offers are the probe model's outputs, named as the atlas's layers
  // (their ONNX output names stay, so the model still runs).
  const outputs = atlas.probeModel!.outputs;
  expect(outputs.map((o) => o.layer)).toEqual(['leaky_re_lu_2', 'conv2d_16']);
  outputs.forEach((output, i) => (output.layer = atlas.layers[i].name));
  await writeFile(join(atlasDir, 'atlas.json'), JSON.stringify(atlas));
  const diffFile = join(diffDir, 'diff.json');
  const diff = JSON.parse(await readFile(diffFile, 'utf8')) as { warnings: string[]; layers: { name: string }[]; filters: { layer: string }[] };
  diff.warnings = HOSTILE.slice(2);
  const renamed = new Map(diff.layers.map((l, i) => [l.name, `${l.name} ${HOSTILE[i + 3]}`]));
  for (const layer of diff.layers) layer.name = renamed.get(layer.name)!;
  for (const filter of diff.filters) filter.layer = renamed.get(filter.layer)!;
  await writeFile(diffFile, JSON.stringify(diff));
  // title (8), labels and synset words (16), photo name, model name, layer names (2), probe model
  // outputs (2), diff warnings (6) and layer names.
  hostileInputs += HOSTILE.length + 2 * names.length + 1 + 1 + 2 + outputs.length + diff.warnings.length + diff.layers.length;

  await mkdir(ARTIFACTS, { recursive: true });
  distParent = await mkdtemp(join(ARTIFACTS, 'build-hostile-'));
});

afterAll(async () => {
  await browser?.context.close();
  await site?.close();
  await rm(distParent, { recursive: true, force: true });
  // The build, its attacked copies and the race copies: about 140 MB a run.
  if (work) await rm(work, { recursive: true, force: true });
  await recordFigures('hostile-site', { hostileInputs });
});

/** What the browser saw since the last `watch.reset()`: dialogs, requests an injected element made, CSP violations. */
interface Watch {
  dialogs: string[];
  injected: string[];
  violations: string[];
  reset(): void;
}

let opened: Promise<{ browser: Browser; watch: Watch }> | undefined;

/** The hostile site, built once, served, and a chromium page that reports dialogs, `x` requests and CSP violations. */
function hostileBrowser(): Promise<{ browser: Browser; watch: Watch }> {
  opened ??= (async () => {
    const dist = join(distParent, 'dist');
    await buildSite(output, dist, BASE);
    site = await serveStatic(dist, BASE);
    browser = await openBrowser(join(work, 'profile'));
    const { context, page } = browser;
    const watch: Watch = {
      dialogs: [],
      injected: [],
      violations: [],
      reset() {
        for (const list of [this.dialogs, this.injected, this.violations]) list.length = 0;
      },
    };
    page.on('dialog', (dialog) => {
      watch.dialogs.push(`${page.url()}: ${dialog.message()}`);
      void dialog.dismiss();
    });
    page.on('request', (request) => {
      if (/\/x$/.test(new URL(request.url()).pathname)) watch.injected.push(`${page.url()} requested ${request.url()}`);
    });
    // Added through the DevTools protocol, so the page's own policy does not apply to these two.
    await context.exposeBinding('reportPolicyViolation', ({ page: from }, text: string) => watch.violations.push(`${from.url()}: ${text}`));
    await context.addInitScript(
      `document.addEventListener('securitypolicyviolation', (e) => window.reportPolicyViolation(e.effectiveDirective + ' blocked ' + (e.blockedURI || 'inline') + ' (' + e.sourceFile + ':' + e.lineNumber + ')'))`,
    );
    return { browser, watch };
  })();
  return opened;
}

/** Elements with an event handler attribute (an `<svg onload>` or `<img onerror>` someone inserted), as the start of their markup. */
function handlerElements(page: Page): Promise<string[]> {
  return page.evaluate<string[]>(`Array.from(document.querySelectorAll('*')).filter((e) => Array.from(e.attributes).some((a) => /^on/i.test(a.name))).map((e) => e.outerHTML.slice(0, 80))`);
}

/** Console messages that are CSP refusals (chromium logs those that happen in workers too). */
const policyMessages = (problems: readonly string[]) => problems.filter((p) => /Content Security Policy|Refused to/i.test(p));

describe('hostile strings in titles, labels, names and diffs', () => {
  it('every page type and the search page show them as text: no dialog, no injected element', async () => {
    const { browser: { page }, watch } = await hostileBrowser();
    watch.reset();

    const data = await loadSiteData(output);
    const urls = makeUrls(BASE);
    const [siteAtlas] = data.atlases;
    const pages = [
      urls.home(),
      urls.atlas(siteAtlas),
      ...siteAtlas.layers.flatMap((entry) => [urls.layer(siteAtlas, entry), urls.filter(siteAtlas, entry, entry.layer.filters[0].filter)]),
      ...siteAtlas.probes.map((probe) => urls.probe(siteAtlas, probe)),
      urls.tryProbe(siteAtlas),
      urls.diffs(),
      ...data.diffs.map((diff) => urls.diff(diff)),
      `${BASE}no-such-page/`,
    ];
    const texts: string[] = [];
    for (const url of pages) {
      await page.goto(`${site!.origin}${url}`);
      await page.waitForLoadState('load');
      texts.push((await page.locator('body').textContent()) ?? '');
      expect(await handlerElements(page), url).toEqual([]);
    }
    // The hostile class names are shown as text (the filter pages' top images and their classes).
    expect(texts.some((text) => HOSTILE.some((h) => text.includes(`tench${h}`)))).toBe(true);
    const title = siteAtlas.atlas.title;
    await page.goto(`${site!.origin}${urls.atlas(siteAtlas)}`);
    expect(await page.locator('h1').first().textContent()).toContain(title);

    // Search: a label, and queries that are themselves hostile; the facets (atlas title, labels) render too.
    for (const query of ['tench', ...HOSTILE.slice(0, 3)]) {
      await page.goto(`${site!.origin}${urls.search(query)}`);
      await page.waitForSelector('.pagefind-ui__message');
      await page.waitForSelector('.pagefind-ui__filter-label', { state: 'attached' });
    }
    // Facet values carry an invisible word joiner after each `<` and `&` (site/src/lib/format.ts facetValue).
    const facets = (await page.locator('.pagefind-ui__filter-label').allTextContents()).map((text) => text.replaceAll('\u2060', ''));
    expect(facets.some((text) => text.includes(title))).toBe(true);
    // No class holds most of a filter's top 3 of these 8 photos, so the label facet says so (labels/dominant.ts).
    expect(facets.some((text) => text.includes(NO_DOMINANT))).toBe(true);
    await page.screenshot({ path: join(ARTIFACTS, 'hostile-search.png'), fullPage: true });

    expect(watch.dialogs).toEqual([]);
    expect(watch.injected).toEqual([]);
    expect(watch.violations).toEqual([]);
    hostileInputs += 3;
  });

  it('the browser probe runs a photo with a hostile name over layers with hostile names: text only, no handler', async () => {
    const { browser: { page, problems }, watch } = await hostileBrowser();
    watch.reset();
    problems.length = 0;
    const [siteAtlas] = (await loadSiteData(output)).atlases;
    await page.goto(`${site!.origin}${makeUrls(BASE).tryProbe(siteAtlas)}`);
    await page.locator('#probe-app[data-state="ready"]').waitFor();
    const layers = await page.locator('#probe-layer option').evaluateAll((options) => options.map((o) => o.getAttribute('value') ?? ''));
    expect(layers).toEqual(siteAtlas.atlas.probeModel!.outputs.map((o) => o.layer));

    // The photo from the asset mirror (FILTER_ATLAS_MIRROR, through the product's own mirror code), under a hostile name.
    const photoName = `${HOSTILE[1]}${HOSTILE[0]}.png`;
    const photo = await readFile(join(await ensureAsset('photos'), 'chelsea.png'));
    await page.setInputFiles('#probe-file', { name: photoName, mimeType: 'image/png', buffer: photo });
    await page.locator('#probe-app[data-state="done"]').waitFor({ timeout: 120_000 });
    for (const layer of [...layers].reverse()) {
      await page.selectOption('#probe-layer', layer);
      const chart = page.locator('#probe-chart > svg');
      expect(await chart.count(), layer).toBe(1);
      // The name is the label's text, whole: nothing of it became markup.
      expect(await chart.getAttribute('aria-label'), layer).toContain(` filters of ${layer}; the highest is filter `);
      const channels = siteAtlas.atlas.layers.find((l) => l.name === layer)!.channels;
      expect(await chart.locator('rect').count(), layer).toBe(channels);
      expect(await page.locator('#probe-chart svg svg, #probe-chart img, #probe-chart script').count(), layer).toBe(0);
      expect(await page.locator('#probe-status').textContent(), layer).toContain(`${photoName}: ${channels} filters of ${layer}`);
      expect(await handlerElements(page), layer).toEqual([]);
    }
    expect(watch.dialogs).toEqual([]);
    expect(watch.injected).toEqual([]);
    expect(watch.violations).toEqual([]);
    expect(policyMessages(problems)).toEqual([]);
    // The photo's name (the layer names are counted with the atlas edits).
    hostileInputs += 1;
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
    // The copy's filters show their PNG and one thumbnail, as an atlas of schema 1 does (builds write
    // no such thumbnail since, so the 1x web thumbnail stands in): the files these attacks replace are
    // then the ones the pages publish.
    const atlas = await readAtlas(atlasFile);
    for (const layer of atlas.layers) {
      for (const filter of layer.filters) {
        if (filter.web) filter.thumb = filter.web.thumb1x;
        delete filter.web;
      }
    }
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
    ['svg-reference-url', async (dir: string, atlas: Atlas) => {
      await writeFile(join(dir, atlas.probes[0].chart), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><rect width="4" height="4" fill="u&#114;l(https://example.com/x.svg#p)"/></svg>');
    }, /received an SVG with a character reference \(&#114;\)/],
    ['svg-foreign-namespace', async (dir: string, atlas: Atlas) => {
      await writeFile(join(dir, atlas.probes[0].chart), '<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"><g xmlns="http://www.w3.org/1999/xhtml"><rect width="4" height="4"/></g></svg>');
    }, /received an SVG with a namespace other than SVG's \(xmlns="http:\/\/www\.w3\.org\/1999\/xhtml"\)/],
    ['fifo', async (dir: string, atlas: Atlas) => {
      // A FIFO in place of an image: refused by its type, and opening it for the check must not wait for a writer.
      await rm(join(dir, firstImage(atlas)));
      await promisify(execFile)('mkfifo', [join(dir, firstImage(atlas))]);
    }, /received a special file \(not a regular file\)/],
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

describe('SVG that would run or load: an allow-list of what the charts hold', () => {
  const svg = (inner: string, attributes = '') => `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"${attributes}>${inner}</svg>`;
  const EXTERNAL = 'https://example.com/x.svg#p';

  it.each([
    // `url(`, `javascript:` and `data:` spelled with character references, which the XML parser decodes.
    ['decimal reference', svg(`<rect width="4" height="4" fill="u&#114;l(${EXTERNAL})"/>`), 'a character reference (&#114;)'],
    ['hex reference', svg(`<rect width="4" height="4" fill="u&#x72;l(${EXTERNAL})"/>`), 'a character reference (&#x72;)'],
    ['upper-case hex reference', svg(`<rect width="4" height="4" fill="u&#X72;l(${EXTERNAL})"/>`), 'a character reference (&#X72;)'],
    ['zero-padded reference', svg(`<rect width="4" height="4" fill="u&#0000114;l(${EXTERNAL})"/>`), 'a character reference (&#0000114;)'],
    ['reference without its semicolon', svg(`<rect width="4" height="4" fill="u&#114l(${EXTERNAL})"/>`), 'a character reference (&#114)'],
    ['referenced javascript:', svg('<text x="1" y="2">&#106;avascript:alert(1)</text>'), 'a character reference (&#106;)'],
    ['referenced url in style', svg(`<rect style="fill: u&#x72;l(${EXTERNAL})"/>`), 'a character reference (&#x72;)'],
    ['entity from an internal DTD', `<!DOCTYPE svg [<!ENTITY u "url(">]>${svg(`<rect fill="&u;${EXTERNAL})"/>`)}`, 'a character reference (&u;)'],
    // Script, handlers, links, embedding.
    ['script element', svg('<script>alert(1)</script>'), 'a <script> element'],
    ['handler on the root', svg('', ' onload="alert(1)"'), 'an event handler (onload)'],
    ['upper-case handler', svg('<rect width="4" height="4" ONCLICK="alert(1)"/>'), 'an event handler (ONCLICK)'],
    ['root with no space before its handler', '<svg/onload=alert(1)>', 'markup that is not a plain tag at "<svg/onload=alert(1)>"'],
    ['href to another origin', svg(`<rect href="${EXTERNAL}"/>`), 'a link (href)'],
    ['xlink:href to another origin', svg(`<text xlink:href="${EXTERNAL}">x</text>`), 'a link (xlink:href)'],
    ['use of another file', svg(`<use href="${EXTERNAL}"/>`), 'a <use> element'],
    ['image', svg(`<image href="${EXTERNAL}" width="4" height="4"/>`), 'a <image> element'],
    ['foreignObject', svg('<foreignObject width="4" height="4"><iframe xmlns="http://www.w3.org/1999/xhtml" src="javascript:alert(1)"/></foreignObject>'), 'a <foreignObject> element'],
    ['set of a handler', svg('<set attributeName="onmouseover" to="alert(1)"/>'), 'a <set> element'],
    ['style element', svg(`<style>@import url(${EXTERNAL});</style>`), 'a <style> element'],
    // What is not spelled as a link but loads or changes how the rest is read.
    ['fill with url()', svg(`<rect width="4" height="4" fill="url(${EXTERNAL})"/>`), 'an external reference in fill'],
    ['mask with url()', svg(`<rect width="4" height="4" mask="url(${EXTERNAL})"/>`), 'an external reference in mask'],
    ['style with a CSS escape', svg(`<rect style="fill: u\\72l(${EXTERNAL})"/>`), 'an attribute charts do not use (style on <rect>)'],
    ['filter attribute', svg('<rect width="4" height="4" filter="blur"/>'), 'an attribute charts do not use (filter on <rect>)'],
    ['xml:base', svg(`<g xml:base="${EXTERNAL}"><rect width="4" height="4"/></g>`), 'an attribute charts do not use (xml:base on <g>)'],
    ['XHTML namespace on an element', svg('<g xmlns="http://www.w3.org/1999/xhtml"/>'), 'a namespace other than SVG\'s (xmlns="http://www.w3.org/1999/xhtml")'],
    ['XHTML namespace on the root', '<svg xmlns="http://www.w3.org/1999/xhtml"><rect/></svg>', 'a namespace other than SVG\'s (xmlns="http://www.w3.org/1999/xhtml")'],
    ['stylesheet instruction', `<?xml-stylesheet href="${EXTERNAL}"?>${svg('')}`, `markup that is not a plain tag at ${JSON.stringify(`<?xml-stylesheet href="${EXTERNAL}`.slice(0, 30))}`],
    ['markup inside a value', svg('<rect width="4" fill="a<script>alert(1)</script>"/>'), `markup that is not a plain tag at ${JSON.stringify('<rect width="4" fill="a<script')}`],
    ['CDATA', svg('<text><![CDATA[<script>alert(1)</script>]]></text>'), `markup that is not a plain tag at ${JSON.stringify('<![CDATA[<script>alert(1)</scr')}`],
  ])('refuses %s', (_name, text, reason) => {
    expect(unsafeSvg(text)).toBe(reason);
    hostileInputs += 1;
  });

  it('passes the charts the pipeline draws, hostile titles and labels included (they are escaped as text)', () => {
    const chart = renderProbeChart({ means: [1, 3, 2, -1], top: [{ filter: 1, mean: 3, label: HOSTILE[1] }, { filter: 2, mean: 2 }], title: HOSTILE.join(' '), labels: HOSTILE });
    expect(unsafeSvg(chart)).toBeUndefined();
  });
});

/** A wait of up to `ms` milliseconds (at least one timer tick). */
const pause = (ms: number) => new Promise((done) => setTimeout(done, Math.random() * ms));

describe('a file swapped for a link while the site copies it', () => {
  let secretPng: Buffer;
  let secretWebp: Buffer;
  let outside: string;

  beforeAll(async () => {
    outside = join(work, 'outside-race');
    await mkdir(join(outside, 'folder'), { recursive: true });
    secretPng = await sharp({ create: { width: 9, height: 3, channels: 3, background: '#5ec2e7' } }).png().toBuffer();
    await writeFile(join(outside, 'secret.png'), secretPng);
    secretWebp = await sharp(secretPng).webp().toBuffer();
    await writeFile(join(outside, 'folder', 'viz.png'), secretPng);
    await writeFile(join(outside, 'folder', 'thumb.webp'), secretWebp);
  });

  /**
   * Copies the site's files of one filter (its picture and thumbnail) into a fresh dist/ again and
   * again while `swap` replaces what the atlas names, as fast as it can. Returns how many copies ran,
   * failed, and the files of dist/ that hold the outside bytes (none may).
   */
  async function race(name: string, swap: (dir: string, image: string) => Promise<void>): Promise<{ copies: number; refused: string[]; leaked: string[] }> {
    const copy = join(work, `race-${name}`);
    await cp(output, copy, { recursive: true });
    const atlasFile = join(copy, 'hostile', 'atlas.json');
    const atlas = await readAtlas(atlasFile);
    const filter = atlas.layers[1].filters[0];
    delete filter.web;
    atlas.layers = [{ ...atlas.layers[1], filters: [{ ...filter, top: [] }] }];
    atlas.probes = [];
    delete atlas.probeModel;
    await writeFile(atlasFile, JSON.stringify(atlas));
    await rm(join(copy, 'diffs'), { recursive: true });
    const data: SiteData = await loadSiteData(copy);
    const dir = join(copy, 'hostile');
    let running = true;
    const swapping = (async () => {
      while (running) await swap(dir, filter.image!);
    })();
    // Each state lasts a few milliseconds, about as long as one check or copy: some copies see one state, some both.
    const refused: string[] = [];
    const leaked: string[] = [];
    let copies = 0;
    try {
      for (; copies < 150; copies++) {
        const dist = join(work, `race-${name}-dist`);
        await rm(dist, { recursive: true, force: true });
        await copyReferencedFiles(data, dist).catch((error: Error) => refused.push(error.message));
        for (const file of await distFiles(dist).catch(() => [])) {
          const bytes = await readFile(file);
          if (bytes.equals(secretPng) || bytes.equals(secretWebp)) leaked.push(file);
        }
      }
    } finally {
      running = false;
      await swapping;
    }
    hostileInputs += 1;
    return { copies, refused, leaked };
  }

  it('a picture swapped between itself and a link to a file outside: dist/ never holds the outside bytes', async () => {
    let own: Buffer | undefined;
    const result = await race('file', async (dir, image) => {
      const path = join(dir, image);
      own ??= await readFile(path);
      // Each step a rename, so the name always exists: a link, then the picture again.
      await symlink(join(outside, 'secret.png'), `${path}.link`);
      await rename(`${path}.link`, path);
      await pause(1);
      await writeFile(`${path}.own`, own);
      await rename(`${path}.own`, path);
      await pause(8);
    });
    console.log(`file swap: ${result.copies} copies, ${result.refused.length} refused`);
    expect(result.leaked).toEqual([]);
    for (const message of result.refused) expect(message).toMatch(/expected the file it references, ".*", to be a published image inside the output folder .*, received a link (to .*outside-race\/secret\.png, outside it|at .* \(it became one after it was checked\))/);
    // Only a race the copies lost both ways shows anything: some copies went through, some were refused.
    expect(result.refused.length).toBeGreaterThan(0);
    expect(result.refused.length).toBeLessThan(result.copies);
  });

  it("a picture's folder swapped between itself and a link to a folder outside: dist/ never holds the outside bytes", async () => {
    const result = await race('folder', async (dir, image) => {
      const folder = join(dir, dirname(image));
      // A folder cannot be renamed over a link in one step: moved aside, the link put in, moved back.
      await symlink(join(outside, 'folder'), `${folder}.link`);
      await rename(folder, `${folder}.own`);
      await rename(`${folder}.link`, folder);
      await pause(1);
      await rm(folder);
      await rename(`${folder}.own`, folder);
      await pause(4);
    });
    console.log(`folder swap: ${result.copies} copies, ${result.refused.length} refused`);
    expect(result.leaked).toEqual([]);
    // Between the two renames the folder is missing for a moment: that is refused as a missing file.
    for (const message of result.refused) expect(message).toMatch(/expected the file it references, ".*"(, to be a published image inside the output folder .*, received (a link|a path that cannot be resolved)| in .*, received no such file|, received no such file)/);
  });
});

describe('the Content-Security-Policy on every page type', () => {
  it('each page type works under it with no violation: grid keys, search, the diff filters, the probe (wasm)', async () => {
    const { browser: { page, problems }, watch } = await hostileBrowser();
    const data = await loadSiteData(output);
    const urls = makeUrls(BASE);
    const [siteAtlas] = data.atlases;
    const [entry] = siteAtlas.layers;
    const open = async (url: string) => {
      await page.goto(`${site!.origin}${url}`);
      await page.waitForLoadState('load');
      const policy = await page.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute('content');
      expect(policy, url).toMatch(/script-src 'self' 'wasm-unsafe-eval';/);
      expect(policy, url).not.toMatch(/'unsafe-inline'|'unsafe-eval'|\*/);
    };

    // The watch sees a violation when there is one: an image from another origin, added from outside the page.
    await open(urls.home());
    watch.reset();
    await page.evaluate(`document.body.appendChild(Object.assign(document.createElement('img'), { src: 'https://example.com/x.png', alt: '' }))`);
    await expect.poll(() => watch.violations.length).toBe(1);
    expect(watch.violations[0]).toContain('img-src blocked https://example.com/x.png');
    watch.reset();
    problems.length = 0;

    await open(urls.home());
    expect(await page.locator(`a[href="${urls.atlas(siteAtlas)}"]`).count()).toBeGreaterThan(0);
    await open(urls.atlas(siteAtlas));
    expect(await page.locator('h1').first().textContent()).toContain(siteAtlas.atlas.title);

    // Layer page: the grid's script (a bundled file) moves the focus with the arrow keys.
    await open(urls.layer(siteAtlas, entry));
    const tiles = page.locator('#filters a');
    await tiles.first().focus();
    await page.keyboard.press('ArrowRight');
    expect(await page.evaluate<string | null>(`document.activeElement.getAttribute('href')`)).toBe(await tiles.nth(1).getAttribute('href'));

    // Filter page: its pictures load from the site's files.
    await open(urls.filter(siteAtlas, entry, entry.layer.filters[0].filter));
    await page.evaluate(`document.querySelectorAll('img').forEach((img) => { img.loading = 'eager'; })`);
    await waitUntil(page, `Array.from(document.images).every((img) => img.complete)`);
    expect(await page.evaluate<string[]>(`Array.from(document.images).filter((img) => img.naturalWidth === 0).map((img) => img.src)`)).toEqual([]);

    // Probe page: a photo run through onnxruntime-web (WebAssembly, compiled under 'wasm-unsafe-eval') and its chart drawn.
    await open(urls.tryProbe(siteAtlas));
    await page.locator('#probe-app[data-state="ready"]').waitFor();
    await page.setInputFiles('#probe-file', join(await ensureAsset('photos'), 'chelsea.png'));
    await page.locator('#probe-app[data-state="done"]').waitFor({ timeout: 120_000 });
    expect(await page.locator('#probe-chart > svg rect').count()).toBeGreaterThan(0);
    expect(await page.locator('#probe-top tr').count()).toBe(10);
    expect(await page.locator('#probe-preview').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(0);

    // Search: Pagefind's script, its WebAssembly and worker find results.
    await open(urls.search('tench'));
    await page.locator('.pagefind-ui__result').first().waitFor({ timeout: 30_000 });
    expect(await page.locator('.pagefind-ui__result').count()).toBeGreaterThan(0);

    // Diff page: its script shows the unit filters and applies one.
    const [diff] = data.diffs;
    await open(urls.diff(diff));
    await page.locator('#unit-filters').waitFor();
    const count = page.locator('#unit-count');
    await expect.poll(() => count.textContent()).toMatch(/^\d+ of \d+ units$/);

    await open(`${BASE}no-such-page/`);
    expect(await page.locator('h1').count()).toBe(1);

    expect(watch.violations).toEqual([]);
    expect(policyMessages(problems)).toEqual([]);
    expect(watch.dialogs).toEqual([]);
  });
});
