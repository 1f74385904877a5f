/**
 * What the browser tests of the site share: building the site from an output folder, a chromium
 * page that records console errors and failed requests, the per-page check (every image decoded,
 * alt text, no errors, a screenshot), and the list of files dist/ should hold.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';

export const REPO = join(import.meta.dirname, '../..');
export const ARTIFACTS = join(REPO, 'test-artifacts/site');
export const CHROMIUM = '/usr/bin/chromium';
/** The phone the site is checked on: a 390 CSS px wide screen (iPhone 12-15). */
export const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1200, height: 900 };

export async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}

/** The environment without what vitest injects (NODE_ENV=test, BASE_URL, MODE...): child processes must see a user's shell. */
export function buildEnv(): NodeJS.ProcessEnv {
  const injected = new Set(['NODE_ENV', 'BASE_URL', 'MODE', 'DEV', 'PROD', 'SSR', 'TEST']);
  return Object.fromEntries(Object.entries(process.env).filter(([k]) => !injected.has(k) && !k.startsWith('VITEST')));
}

/**
 * `astro build` of the site from `output` into `dist` under `base`. dist/ must be inside the repo:
 * Astro puts its server chunks in outDir only when outDir is under the working directory (else in
 * ./.astro/), and those chunks must resolve node_modules.
 */
export async function buildSite(output: string, dist: string, base: string): Promise<{ seconds: number; files: number; bytes: number }> {
  const started = performance.now();
  await promisify(execFile)(process.execPath, [join(REPO, 'node_modules/astro/astro.js'), 'build', '--root', 'site', '--outDir', dist], {
    cwd: REPO,
    env: { ...buildEnv(), FILTER_ATLAS_OUTPUT: output, SITE_BASE: base, ASTRO_TELEMETRY_DISABLED: '1' },
    maxBuffer: 64 * 1024 * 1024,
  });
  const files = await filesUnder(dist);
  let bytes = 0;
  for (const f of files) bytes += (await stat(f)).size;
  return { seconds: (performance.now() - started) / 1000, files: files.length, bytes };
}

/**
 * Files under dist/files/ that some page references (src attributes, Pagefind image meta and the
 * browser probe's model URLs in its JSON config), and the files copied there.
 */
export async function referencedAndCopied(dist: string, base: string): Promise<{ referenced: string[]; copied: string[] }> {
  const html = (await filesUnder(dist)).filter((f) => f.endsWith('.html'));
  const referenced = new Set<string>();
  for (const file of html) {
    for (const match of (await readFile(file, 'utf8')).matchAll(/(?:src="|image:|"url":")([^"]+)"/g)) {
      if (match[1].startsWith(`${base}files/`)) referenced.add(decodeURIComponent(match[1].slice(base.length)));
    }
  }
  const copied = (await filesUnder(join(dist, 'files'))).map((f) => relative(dist, f).split('\\').join('/'));
  return { referenced: [...referenced].sort(), copied: copied.sort() };
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** Console errors, page errors and failed requests since the last `problems.length = 0`. */
  problems: string[];
}

/** Debian chromium, headless, with a fresh profile folder (passed through launchPersistentContext, not --user-data-dir). */
export async function openBrowser(profile: string): Promise<Browser> {
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: DESKTOP,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const problems: string[] = [];
  page.on('console', (message) => { if (message.type() === 'error') problems.push(`console: ${message.text()}`); });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('requestfailed', (request) => {
    // Leaving a page cancels its pending lazy images (ERR_ABORTED); images of the checked page are verified by naturalWidth.
    if (request.failure()?.errorText !== 'net::ERR_ABORTED') problems.push(`failed: ${request.url()} ${request.failure()?.errorText}`);
  });
  page.on('response', (response) => { if (response.status() >= 400) problems.push(`HTTP ${response.status()}: ${response.url()}`); });
  return { context, page, problems };
}

/**
 * Waits until `expression` (browser-side code) is true, polling with page.evaluate, which runs
 * through the DevTools protocol. page.waitForFunction compiles its string inside the page, which
 * the site's Content-Security-Policy (no 'unsafe-eval', site/src/lib/csp.ts) refuses.
 */
export async function waitUntil(page: Page, expression: string, timeout = 30_000): Promise<void> {
  await expect.poll(() => page.evaluate<boolean>(expression), { timeout, interval: 100 }).toBe(true);
}

let axeSource: string | undefined;

/**
 * axe-core run in the page (WCAG 2.x A/AA rules and best practices): its serious and critical
 * violations, one line each naming the rule and the first elements.
 */
export async function accessibilityViolations(page: Page): Promise<string[]> {
  axeSource ??= await readFile(join(REPO, 'node_modules/axe-core/axe.min.js'), 'utf8');
  // Evaluated through the DevTools protocol, so the site's script policy does not apply to it.
  await page.evaluate(axeSource);
  const violations = await page.evaluate<{ id: string; impact: string | null; help: string; targets: string[] }[]>(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, targets: v.nodes.map((n) => n.target.join(' ')) })))`,
  );
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}: ${v.targets.slice(0, 3).join(', ')}${v.targets.length > 3 ? ` and ${v.targets.length - 3} more` : ''}`);
}

/**
 * Loads every image now (thumbnails are lazy), then checks each decoded, runs axe (no serious or
 * critical violation), screenshots the page as `<name>.png` at 1200 px and `<name>-phone.png` at
 * 390 px (where nothing may stick out sideways) and reports problems.
 */
export async function checkPage(browser: Browser, name: string): Promise<void> {
  const { page, problems } = browser;
  await page.waitForLoadState('load');
  // Browser-side code as strings: the project's tsconfig has no DOM types.
  await page.evaluate(`document.querySelectorAll('img').forEach((img) => { img.loading = 'eager'; })`);
  await waitUntil(page, `Array.from(document.images).every((img) => img.complete)`);
  const broken = await page.evaluate<string[]>(
    // A hidden image without a source is a slot a script fills (the browser probe's photo preview).
    `Array.from(document.images).filter((img) => img.naturalWidth === 0 && !(img.hidden && !img.hasAttribute('src'))).map((img) => img.getAttribute('src'))`,
  );
  expect(broken, `images that did not load on ${name}`).toEqual([]);
  const missingAlt = await page.evaluate<number>(`Array.from(document.images).filter((img) => !img.hasAttribute('alt')).length`);
  expect(missingAlt, `images without alt on ${name}`).toBe(0);
  expect(await accessibilityViolations(page), `serious or critical axe violations on ${name}`).toEqual([]);
  await page.screenshot({ path: join(ARTIFACTS, `${name}.png`), fullPage: true });
  await page.setViewportSize(PHONE);
  try {
    // A page wider than the phone scrolls sideways: something (a table, a long name) does not fit.
    const overflow = await page.evaluate<number>('document.documentElement.scrollWidth - document.documentElement.clientWidth');
    await page.screenshot({ path: join(ARTIFACTS, `${name}-phone.png`), fullPage: true });
    expect(overflow, `${name} is wider than a ${PHONE.width} px phone by`).toBeLessThanOrEqual(0);
  } finally {
    await page.setViewportSize(DESKTOP);
  }
  expect(problems, `console errors / failed requests on ${name}`).toEqual([]);
}
