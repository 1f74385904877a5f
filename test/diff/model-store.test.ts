/**
 * The nightly case: a model re-exported over the same path. Two small atlases of darknet-tiny variants
 * built from one model path, the file overwritten in between; the diff then finds the first version's
 * weights in the output's model store, and once that entry is gone it still runs, without the
 * cross-activation column, and says so in diff.json and the table.
 */
import { cp, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testBuildDeps } from '../atlas/build-deps.js';
import { runBuild } from '../../pipeline/atlas/build.js';
import { findStoredModel, MODEL_STORE_FOLDER } from '../../pipeline/atlas/model-store.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { formatDiffSummary } from '../../pipeline/diff/report.js';
import { runDiff, type DiffDeps } from '../../pipeline/diff/run.js';
import { createEngine } from '../../pipeline/engine/create.js';
import { loadModel } from '../../pipeline/model/load.js';
import { createVariant } from '../../pipeline/variants/create.js';

describe('model store: a diff survives an overwritten model', () => {
  let dir: string;
  let output: string;
  const digests: string[] = [];
  const logs: string[] = [];
  const diffDeps: DiffDeps = { loadModel, createEngine, log: (m) => logs.push(m), now: () => new Date('2026-12-07T00:00:00Z') };

  async function build(atlas: string): Promise<string> {
    const file = join(dir, `${atlas}.yaml`);
    await writeFile(
      file,
      [
        `atlas: ${atlas}`,
        'model: model/model.json',
        'layers:',
        '  - layer: leaky_re_lu_3',
        '    filters: [0, 1, 2, 3, 4, 5]',
        'method: {scales: 2, stepsPerScale: 3}',
        'seed: 3',
        'dataset: {source: imagenet-sample, limit: 40, topK: 5, batchSize: 20}',
      ].join('\n') + '\n',
    );
    const config = await loadConfig(file);
    config.output = output;
    const built = await runBuild(config, testBuildDeps(config, { log: (m) => logs.push(m) }));
    return built.atlasDir;
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'fa-store-'));
    output = join(dir, 'output');
    // Two versions written to one folder, the second over the first (as a nightly re-export does).
    for (const [n, seed] of [1, 2].entries()) {
      const variant = await createVariant('darknet-tiny', { permute: [], perturb: [{ layer: 'conv2d_3', scale: 0.5 }], seed, out: join(dir, `v${n}`) }, { loadModel });
      digests.push(variant.variant.weightsDigest);
    }
    await cp(join(dir, 'v0'), join(dir, 'model'), { recursive: true });
    await build('v1');
    await rm(join(dir, 'model'), { recursive: true });
    await cp(join(dir, 'v1'), join(dir, 'model'), { recursive: true });
    await build('v2');
  }, 240_000);

  afterAll(async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('build keeps each version once, by digest, beside the atlases', async () => {
    expect(digests[0]).not.toBe(digests[1]);
    expect((await readdir(join(output, MODEL_STORE_FOLDER))).sort()).toEqual([...digests].sort());
    for (const digest of digests) {
      const spec = await findStoredModel(output, digest);
      expect(spec).toBeDefined();
      expect((await loadModel(spec!)).weightsDigest).toBe(digest);
    }
    expect(logs.filter((m) => m.startsWith('model store: weights kept at')).length).toBe(2);
  });

  it('a rebuild adds nothing to the store', async () => {
    logs.length = 0;
    await build('v2');
    expect(logs.some((m) => m.startsWith('model store:'))).toBe(false);
    expect((await readdir(join(output, MODEL_STORE_FOLDER))).length).toBe(2);
  });

  it('diff takes the overwritten weights from the store: every signal there', async () => {
    const diff = await runDiff({ a: join(output, 'v1'), b: join(output, 'v2'), out: join(output, 'diffs', 'v1__v2') }, diffDeps);
    expect(diff.omitted).toEqual([]);
    expect(diff.filters.length).toBe(6);
    for (const f of diff.filters) expect(f.signals.cross).toBeDefined();
    // conv2d_3 was perturbed differently in the two versions: its units changed.
    expect(diff.summary.changed + diff.summary.drifted).toBeGreaterThan(0);
  }, 120_000);

  it('an override the store made unnecessary is not used, and the log says so', async () => {
    logs.length = 0;
    const diff = await runDiff({ a: join(output, 'v1'), b: join(output, 'v2'), out: join(output, 'diffs', 'v1__v2'), modelA: join(dir, 'model', 'model.json') }, diffDeps);
    expect(diff.omitted).toEqual([]);
    expect(logs.some((m) => m.startsWith('diff: --model-a') && m.includes('not used: the model store entry'))).toBe(true);
  }, 120_000);

  it('without the store entry: no cross-activation, the rest scored, and the reason said', async () => {
    await rm(join(output, MODEL_STORE_FOLDER, digests[0]), { recursive: true });
    logs.length = 0;
    const diff = await runDiff({ a: join(output, 'v1'), b: join(output, 'v2'), out: join(output, 'diffs', 'v1__v2') }, diffDeps);
    expect(diff.omitted.map((o) => o.signal)).toEqual(['cross']);
    const reason = diff.omitted[0].reason;
    expect(reason).toContain(`atlas A's weights (sha256 ${digests[0].slice(0, 12)}...) are not at hand`);
    expect(reason).toContain('now holds other weights');
    expect(reason).toContain('has no entry');
    expect(diff.filters.length).toBe(6);
    for (const f of diff.filters) {
      expect(f.signals.cross).toBeUndefined();
      expect(f.signals.ssim).toBeDefined();
      expect(f.components.correlation).toBeGreaterThanOrEqual(0);
    }
    expect(formatDiffSummary(diff)).toContain('left out: the cross-activation column (every unit):');
    expect(logs.some((m) => m.startsWith('diff: left out the cross-activation column'))).toBe(true);
  }, 120_000);

  it('an explicit --model-a with other weights is an error, not a silent fallback', async () => {
    await expect(runDiff({ a: join(output, 'v1'), b: join(output, 'v2'), out: join(output, 'diffs', 'x'), modelA: join(dir, 'model', 'model.json') }, diffDeps)).rejects.toThrow(/--model-a/);
  }, 120_000);
});
