/**
 * The diff end to end on real atlases: the shipped config/variants/*.yaml built (into a temp folder)
 * for darknet-tiny and three variants made by the variant code, then diffed against the original.
 * Expectations: an atlas against itself changes nothing; the permuted variant changes nothing once
 * units are matched, and the matching is the permutation the variant recorded; the perturbed
 * variant (conv2d_3, the last atlas layer) changes exactly leaky_re_lu_3 and ranks its units first;
 * the int8 variant drifts at most. About 4 small builds (48 filters, 100 images each) and 4 diffs.
 */
import { access, cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Command } from 'commander';
import { testBuildDeps } from '../atlas/build-deps.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runBuild } from '../../pipeline/atlas/build.js';
import { defineDiffCommand } from '../../pipeline/cli/commands/diff.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { runDiff, type DiffDeps } from '../../pipeline/diff/run.js';
import { diffSchema, type AtlasDiff } from '../../pipeline/diff/schema.js';
import { createEngine } from '../../pipeline/engine/create.js';
import { loadModel } from '../../pipeline/model/load.js';
import { createVariant, type VariantOptions } from '../../pipeline/variants/create.js';
import type { VariantOperation } from '../../pipeline/model/metadata.js';

const CONFIGS = resolve(import.meta.dirname, '../../config/variants');

/** The variants as the configs' own "Build:" comments make them. */
const VARIANTS: Record<string, Omit<VariantOptions, 'out'>> = {
  permuted: { permute: ['conv2d_2'], perturb: [], seed: 1 },
  perturbed: { permute: [], perturb: [{ layer: 'conv2d_3', scale: 0.5 }], seed: 1 },
  quantized: { quantize: 'int8', permute: [], perturb: [], seed: 0 },
};

describe('diff of darknet-tiny variants', () => {
  let dir: string;
  const atlases = new Map<string, string>();
  const operations = new Map<string, VariantOperation[]>();
  const diffs = new Map<string, AtlasDiff>();
  const diffDeps: DiffDeps = { loadModel, createEngine, log: () => {}, now: () => new Date('2026-11-27T00:00:00Z') };

  async function build(name: string, model?: string): Promise<void> {
    // The shipped config names the variant where `filter-atlas variant` writes it; here it is in the
    // temp folder, so a copy of the config points there (the loader checks that the model exists).
    let file = join(CONFIGS, `${name}.yaml`);
    if (model) {
      const text = await readFile(file, 'utf8');
      file = join(dir, `${name}.yaml`);
      await writeFile(file, text.replace(/^model: .*$/m, `model: ${JSON.stringify(model)}`));
    }
    const config = await loadConfig(file);
    config.output = join(dir, 'out');
    atlases.set(name, (await runBuild(config, testBuildDeps(config, { now: () => new Date() }))).atlasDir);
  }

  async function diffAgainst(name: string): Promise<AtlasDiff> {
    const diff = await runDiff({ a: atlases.get('original')!, b: atlases.get(name)!, out: join(dir, 'diffs', name) }, diffDeps);
    diffs.set(name, diff);
    return diff;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fa-diff-'));
    await build('original');
    for (const [name, options] of Object.entries(VARIANTS)) {
      const variant = await createVariant('darknet-tiny', { ...options, out: join(dir, 'models', name) }, { loadModel });
      operations.set(name, variant.operations);
      await build(name, variant.modelFile);
    }
  });

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('an atlas against itself: every unit unchanged with score 0 (CLI, --json with a summary)', async () => {
    const out = join(dir, 'diffs', 'self');
    const written: string[] = [];
    const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      written.push(String(chunk));
      return true;
    });
    const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const program = new Command('filter-atlas').exitOverride();
      defineDiffCommand(program);
      await program.parseAsync(['diff', atlases.get('original')!, atlases.get('original')!, '--output', out, '--json'], { from: 'user' });
    } finally {
      spy.mockRestore();
      stderr.mockRestore();
    }
    const printed = diffSchema.parse(JSON.parse(written.join('')));
    const saved = diffSchema.parse(JSON.parse(await readFile(join(out, 'diff.json'), 'utf8')));
    expect(saved.summary).toEqual(printed.summary);
    expect(printed.summary).toMatchObject({ unchanged: 48, drifted: 0, changed: 0, died: 0, revived: 0, dead: 0, total: 48, changedLayers: [], driftedLayers: [], permutedLayers: [] });
    // Float residue only (a correlation of 1 - 3e-16).
    expect(Math.max(...printed.filters.map((f) => f.score))).toBeLessThan(1e-9);
    // Image paths are relative to the diff folder, so pages can show A and B side by side.
    const first = printed.filters[0];
    await access(join(out, first.a.image!));
    await access(join(out, first.b.top[0].thumb!));
  });

  it('permuted: units matched back to the recorded order, nothing changed downstream', async () => {
    const diff = await diffAgainst('permuted');
    const op = operations.get('permuted')![0];
    if (op.kind !== 'permute') throw new Error('expected a permute operation');
    expect(diff.summary).toMatchObject({ unchanged: 48, total: 48, changedLayers: [], driftedLayers: [], permutedLayers: ['leaky_re_lu_2'] });
    const layer = diff.layers.find((l) => l.name === 'leaky_re_lu_2')!;
    // B's channel j holds A's channel order[j]: A's channel i must be matched to the j with order[j] = i.
    const expected = op.order.map((_, i) => op.order.indexOf(i));
    const found = Array.from({ length: 32 }, (_, i) => layer.matches.find((m) => m.a === i)?.b ?? i);
    expect(found).toEqual(expected);
    expect(layer.matchedCorrelation).toBeGreaterThan(0.999);
    expect(diff.layers.find((l) => l.name === 'leaky_re_lu_3')!.permuted).toBe(false);
    // Each unit compared with its match: B's unit responds to A's picture exactly as A's does.
    for (const f of diff.filters) expect(f.components.cross).toBeLessThan(0.01);
    // A unit that only moved draws the same picture: the start noise does not follow the index.
    const moved = diff.filters.filter((f) => f.layer === 'leaky_re_lu_2' && f.a.filter !== f.b.filter);
    expect(moved.length).toBeGreaterThan(20);
    for (const f of moved) expect(f.signals.ssim).toBe(1);
  });

  it('perturbed last atlas layer: exactly that layer changed, its units ranked first', async () => {
    const diff = await diffAgainst('perturbed');
    expect(diff.summary.changedLayers).toEqual(['leaky_re_lu_3']);
    expect(diff.summary.driftedLayers).toEqual([]);
    expect(diff.summary.permutedLayers).toEqual([]);
    const early = diff.filters.filter((f) => f.layer === 'leaky_re_lu_2');
    expect(early.every((f) => f.status === 'unchanged' && f.score < 1e-9)).toBe(true);
    const late = diff.filters.filter((f) => f.layer === 'leaky_re_lu_3');
    expect(diff.filters.slice(0, 16).every((f) => f.layer === 'leaky_re_lu_3')).toBe(true);
    const counts = diff.layers.find((l) => l.name === 'leaky_re_lu_3')!.counts;
    expect(counts.unchanged).toBeLessThanOrEqual(2);
    expect(counts.changed).toBeGreaterThanOrEqual(3);
    expect(counts.died + counts.revived).toBe(0);
    expect(late.reduce((s, f) => s + f.score, 0) / late.length).toBeGreaterThan(0.15);
  });

  it('int8: drift at most, far below the perturbed layer', async () => {
    const diff = await diffAgainst('quantized');
    expect(diff.summary.changed + diff.summary.died + diff.summary.revived).toBe(0);
    expect(diff.summary.changedLayers).toEqual([]);
    expect(diff.summary.unchanged).toBeGreaterThanOrEqual(40);
    expect(diff.summary.permutedLayers).toEqual([]);
    for (const f of diff.filters) expect(f.signals.correlation).toBeGreaterThan(0.98);
    const perturbed = diffs.get('perturbed')!;
    const mean = (d: AtlasDiff) => d.layers.find((l) => l.name === 'leaky_re_lu_3')!.meanScore;
    expect(mean(diff) * 3).toBeLessThan(mean(perturbed));
  });

  it('refuses atlases of another architecture or dataset', async () => {
    const original = atlases.get('original')!;
    const atlas = JSON.parse(await readFile(join(original, 'atlas.json'), 'utf8'));
    const write = async (name: string, edit: (a: typeof atlas) => void) => {
      const copy = structuredClone(atlas);
      edit(copy);
      const file = join(dir, `${name}.json`);
      await writeFile(file, JSON.stringify(copy));
      return file;
    };
    const other = await write('other-arch', (a) => (a.layers[1].channels = 17));
    await expect(runDiff({ a: original, b: other, out: join(dir, 'x') }, diffDeps)).rejects.toThrow(
      'expected two atlases of the same architecture with the same layers (names and channel counts), received A: leaky_re_lu_2:32, leaky_re_lu_3:16; B: leaky_re_lu_2:32, leaky_re_lu_3:17',
    );
    const otherData = await write('other-data', (a) => (a.dataset.digest = 'f'.repeat(64)));
    await expect(runDiff({ a: original, b: otherData, out: join(dir, 'x') }, diffDeps)).rejects.toThrow('expected two atlases scanned on the same dataset (same dataset digest)');
    // An atlas whose model file changed since it was built: the weights digest says so.
    const moved = join(dir, 'moved');
    await cp(atlases.get('quantized')!, moved, { recursive: true });
    await expect(runDiff({ a: original, b: moved, out: join(dir, 'x'), modelB: 'darknet-tiny' }, diffDeps)).rejects.toThrow('expected the weights the atlas was built with');
  });
});
