/**
 * `filter-atlas history` on a real sequence: four checkpoints of a resnet18 fine-tune in which conv1
 * and layer1..layer3 are frozen and layer4 trains (test/torch/history.py, Debian's PyTorch). A tiny
 * atlas of each (layer1, frozen, and layer4, trained: 6 filters each, 40 images, a short schedule),
 * then the history through the real command: the frozen layer is unchanged at every step, the trained
 * one changes; the site's history page says the same, and its screenshot is kept
 * (test-artifacts/site/history-*.png). The model store holds each version once.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveSource } from '../../pipeline/atlas/sources.js';
import { MODEL_STORE_FOLDER } from '../../pipeline/atlas/model-store.js';
import { historySchema, type AtlasHistory } from '../../pipeline/schema/history.js';
import { resnetCheckpoints, type ResnetCheckpoints } from '../torch/history.js';
import { ARTIFACTS, buildEnv, buildSite, checkPage, openBrowser, REPO, type Browser } from '../site/harness.js';
import { serveStatic, type StaticSite } from '../site/serve.js';

const BASE = '/atlas-history/';
const FILTERS = [0, 1, 2, 3, 4, 5];

let tmp: string;
let output: string;
let distParent: string;
let checkpoints: ResnetCheckpoints | undefined;
let history: AtlasHistory;
let printed: string;
let site: StaticSite | undefined;
let browser: Browser | undefined;

async function cli(args: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)(process.execPath, [join(REPO, 'bin/filter-atlas.js'), ...args], { cwd: tmp, env: buildEnv(), maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'fa-history-'));
  checkpoints = await resnetCheckpoints(await resolveSource('imagenet-sample', tmp));
  if (!checkpoints) return;
  output = join(tmp, 'output');
  for (const { version, onnx } of checkpoints.versions) {
    const config = join(tmp, `v${version}.yaml`);
    await writeFile(
      config,
      [
        `atlas: resnet18-v${version}`,
        `title: resnet18 fine-tune, version ${version}`,
        `model: ${JSON.stringify(onnx)}`,
        'layers:',
        `  - {layer: layer1, filters: [${FILTERS.join(', ')}]}`,
        `  - {layer: layer4, filters: [${FILTERS.join(', ')}]}`,
        'method: {scales: 2, stepsPerScale: 4}',
        'seed: 3',
        'dataset: {source: imagenet-sample, limit: 40, topK: 5, batchSize: 20}',
      ].join('\n') + '\n',
    );
    await cli(['build', config, '--output', output]);
  }
  printed = await cli(['history', ...checkpoints.versions.map((v) => join(output, `resnet18-v${v.version}`)), '--name', 'resnet18-finetune']);
  history = historySchema.parse(JSON.parse(await readFile(join(output, 'histories', 'resnet18-finetune', 'history.json'), 'utf8')));
}, 600_000);

afterAll(async () => {
  await browser?.context.close();
  await site?.close();
  if (tmp) await rm(tmp, { recursive: true, force: true });
  if (distParent) await rm(distParent, { recursive: true, force: true });
});

describe('history of four resnet18 checkpoints (layer4 trained, the rest frozen)', () => {
  it('follows every selected filter across the 4 versions', ({ skip }) => {
    if (!checkpoints) return skip();
    expect(history.versions.map((v) => v.id)).toEqual(['resnet18-v0', 'resnet18-v1', 'resnet18-v2', 'resnet18-v3']);
    expect(history.steps.map((s) => s.omitted)).toEqual([[], [], []]);
    expect(history.filters.length).toBe(2 * FILTERS.length);
    for (const f of history.filters) {
      expect(f.units.every((u) => u !== null)).toBe(true);
      expect(f.steps.every((s) => s !== null)).toBe(true);
      expect(f.born).toBe(0);
    }
    expect(printed).toContain('history written to');
  });

  it('the frozen layer (layer1) is unchanged at every step', ({ skip }) => {
    if (!checkpoints) return skip();
    const frozen = history.layers.find((l) => l.name.includes('layer1'))!;
    expect(frozen.steps.map((s) => s.status)).toEqual(['unchanged', 'unchanged', 'unchanged']);
    for (const step of frozen.steps) expect(step.counts.unchanged).toBe(FILTERS.length);
    for (const f of history.filters.filter((x) => x.layer === frozen.name)) {
      expect(f.changed).toBeNull();
      expect(f.units).toEqual([f.units[0], f.units[0], f.units[0], f.units[0]]);
      for (const s of f.steps) expect(s!.score).toBeLessThan(0.01);
    }
  });

  it('the trained layer (layer4) changes at every step', ({ skip }) => {
    if (!checkpoints) return skip();
    const trained = history.layers.find((l) => l.name.includes('layer4'))!;
    for (const step of trained.steps) {
      expect(step.status).not.toBe('unchanged');
      expect(step.counts.unchanged).toBeLessThan(FILTERS.length);
    }
    const filters = history.filters.filter((x) => x.layer === trained.name);
    expect(filters.filter((f) => f.changed !== null).length).toBeGreaterThan(0);
    for (const f of filters) expect(f.maxScore).toBeGreaterThan(0.1);
  });

  it('the model store keeps each of the 4 versions once', async ({ skip }) => {
    if (!checkpoints) return skip();
    const entries = await readdir(join(output, MODEL_STORE_FOLDER));
    expect(entries.sort()).toEqual(history.versions.map((v) => `${v.model.weightsDigest}.onnx`).sort());
    let bytes = 0;
    for (const entry of entries) bytes += (await stat(join(output, MODEL_STORE_FOLDER, entry))).size;
    console.log(`model store for ${entries.length} versions: ${bytes} bytes`);
  });

  it('the site shows the history: frozen layer unchanged, trained layer changed, each filter a timeline', async ({ skip }) => {
    if (!checkpoints) return skip();
    await mkdir(ARTIFACTS, { recursive: true });
    distParent = await mkdtemp(join(ARTIFACTS, 'build-history-'));
    const dist = join(distParent, 'dist');
    await buildSite(output, dist, BASE);
    site = await serveStatic(dist, BASE);
    browser = await openBrowser(join(tmp, 'profile'));
    const { page } = browser;
    await page.goto(`${site.origin}${BASE}histories/`);
    await page.getByRole('link', { name: 'resnet18-finetune' }).first().click();
    await expect.poll(() => page.locator('h1').textContent()).toContain('resnet18-finetune');
    const frozen = history.layers.find((l) => l.name.includes('layer1'))!;
    const trained = history.layers.find((l) => l.name.includes('layer4'))!;
    const row = (name: string) => page.locator(`#layers tr[data-layer="${name}"]`);
    // Layers are shown by the alias a user types (layer1 or layer1.1), the node name as a secondary line.
    expect(await row(frozen.name).locator('th').innerText()).toMatch(/^layer1\b/);
    expect(await row(trained.name).locator('th').innerText()).toMatch(/^layer4\b/);
    for (let k = 0; k < 3; k++) {
      expect(await row(frozen.name).locator(`td[data-step="${k}"]`).getAttribute('data-status')).toBe('unchanged');
      expect(await row(trained.name).locator(`td[data-step="${k}"]`).getAttribute('data-status')).toBe(trained.steps[k].status);
      expect(await row(trained.name).locator(`td[data-step="${k}"]`).getAttribute('data-status')).not.toBe('unchanged');
    }
    // Each filter's timeline: one picture per version.
    expect(await page.locator('.timeline').count()).toBe(history.filters.length);
    expect(await page.locator('.timeline').first().locator('img').count()).toBe(4);
    await checkPage(browser, 'history-page');
  }, 300_000);
});
