/**
 * Page weights of a built site against the budgets of README "Light pages": a layer page's HTML,
 * CSS and scripts plus the images visible without scrolling at most 1 MB (at 1200 px and on a
 * 390 px phone, both at device pixel ratio 2, so the 2x thumbnails count), the whole site at most
 * 100 MB. The browser tests assert them on the site they build; run directly on any built site:
 *     npx tsx test/site/weights.ts site/dist [base]      (base defaults to /)
 * prints one JSON line per layer page and viewport, then the site's size, and exits 1 over budget.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { serveStatic } from './serve.js';

export const BUDGETS = { layerPageBytes: 1_000_000, siteBytes: 100_000_000 } as const;
const CHROMIUM = '/usr/bin/chromium';
export const VIEWPORTS = [
  { name: 'desktop', width: 1200, height: 900 },
  { name: 'phone', width: 390, height: 844 },
] as const;

export interface PageWeight {
  path: string;
  viewport: string;
  html: number;
  /** Stylesheets and scripts fetched by the time the page has loaded. */
  code: number;
  /** Images (the chosen srcset candidate) at least partly inside the first screen. */
  aboveFold: number;
  images: number;
  total: number;
}

async function allFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

export async function siteBytes(dist: string): Promise<number> {
  let bytes = 0;
  for (const file of await allFiles(dist)) bytes += (await stat(file)).size;
  return bytes;
}

/** URL paths of every layer page (each sort order and page): the pages with the filter grid. */
export async function layerPages(dist: string, base: string): Promise<string[]> {
  const pages: string[] = [];
  for (const file of await allFiles(dist)) {
    if (!file.endsWith('index.html')) continue;
    if ((await readFile(file, 'utf8')).includes('id="filters"')) pages.push(base + relative(dist, file).split('\\').join('/').replace(/index\.html$/, ''));
  }
  return pages.sort();
}

/** The file behind a URL of the site (a folder's index.html). */
function fileOf(dist: string, base: string, url: string): string {
  const path = decodeURIComponent(new URL(url).pathname).slice(base.length);
  return join(dist, path.endsWith('/') || path === '' ? `${path}index.html` : path);
}

/** Loads each page in chromium at each viewport and weighs what it fetched before any scrolling. */
export async function weighPages(dist: string, base: string, paths: readonly string[]): Promise<PageWeight[]> {
  const site = await serveStatic(dist, base);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] });
  const size = async (url: string) => (await stat(fileOf(dist, base, url))).size;
  const weights: PageWeight[] = [];
  try {
    for (const viewport of VIEWPORTS) {
      const context = await browser.newContext({ viewport: { width: viewport.width, height: viewport.height }, deviceScaleFactor: 2 });
      const page = await context.newPage();
      for (const path of paths) {
        await page.goto(`${site.origin}${path}`, { waitUntil: 'load' });
        // Browser-side code as strings: the project's tsconfig has no DOM types.
        const { code, visible, all } = await page.evaluate<{ code: string[]; visible: string[]; all: string[] }>(`(() => {
          const origin = location.origin;
          const code = performance.getEntriesByType('resource').filter((e) => (e.initiatorType === 'link' || e.initiatorType === 'script') && e.name.startsWith(origin)).map((e) => e.name);
          const shown = (img) => { const r = img.getBoundingClientRect(); return r.width > 0 && r.bottom > 0 && r.top < innerHeight && r.right > 0 && r.left < innerWidth; };
          const images = Array.from(document.images).filter((img) => img.currentSrc.startsWith(origin));
          return { code, visible: [...new Set(images.filter(shown).map((img) => img.currentSrc))], all: [...new Set(images.map((img) => img.currentSrc))] };
        })()`);
        const sum = async (urls: string[]) => (await Promise.all(urls.map(size))).reduce((a, b) => a + b, 0);
        const html = await size(`${site.origin}${path}`);
        const weight = { path, viewport: viewport.name, html, code: await sum([...new Set(code)]), aboveFold: await sum(visible), images: all.length };
        weights.push({ ...weight, total: weight.html + weight.code + weight.aboveFold });
      }
      await context.close();
    }
  } finally {
    await browser.close();
    await site.close();
  }
  return weights;
}

async function main(): Promise<void> {
  const [distArg, base = '/'] = process.argv.slice(2);
  if (!distArg) throw new Error('usage: npx tsx test/site/weights.ts <dist folder> [base]');
  const dist = resolve(distArg);
  const weights = await weighPages(dist, base, await layerPages(dist, base));
  for (const w of weights) console.log(JSON.stringify(w));
  const bytes = await siteBytes(dist);
  console.log(JSON.stringify({ site: dist, bytes, budget: BUDGETS.siteBytes }));
  const over = weights.filter((w) => w.total > BUDGETS.layerPageBytes);
  if (over.length > 0 || bytes > BUDGETS.siteBytes) {
    console.error(`over budget: ${over.length} layer page views over ${BUDGETS.layerPageBytes} bytes; site ${bytes} of ${BUDGETS.siteBytes} bytes`);
    process.exitCode = 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) await main();
