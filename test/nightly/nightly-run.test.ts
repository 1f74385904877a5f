/**
 * The nightly workflow as shipped, run here: the `run` scripts of .github/workflows/nightly.yml's
 * shard and merge jobs, with bash as GitHub runs them (-e, -o pipefail), for three nights of a small
 * real atlas (2 shards, KEEP_VERSIONS=2). Each shard job has its own folder (its cache), the merge
 * job gets copies of the shards' folders (the artifacts) and keeps its output folder between nights
 * (the atlases' cache). Checks: tonight's version is built under its own id and title, the second
 * night reuses every record of the first, the merge keeps the last two versions with their diff, and
 * the history of the kept versions is written.
 */
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(import.meta.dirname, '../..');

interface Step {
  name?: string;
  run?: string;
}
const workflow = parse(readFileSync(resolve(root, '.github/workflows/nightly.yml'), 'utf8')) as {
  env: Record<string, string>;
  jobs: Record<string, { steps: Step[] }>;
};
const script = (job: string, test: (run: string) => boolean) => {
  const step = workflow.jobs[job].steps.find((s) => s.run !== undefined && test(s.run));
  if (!step?.run) throw new Error(`no such step in job ${job}`);
  return step.run;
};
const buildScript = script('shard', (r) => r.includes('npx filter-atlas build'));
const mergeScript = script('merge', (r) => r.includes('npx filter-atlas merge'));
const keepScript = script('merge', (r) => r.includes('nightly-versions.mjs prune'));

const scratch = mkdtempSync(join(tmpdir(), 'nightly-run-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A job's working folder: a checkout (the repository's files it uses, linked) and nothing else. */
function workspace(name: string): string {
  const dir = join(scratch, name);
  mkdirSync(dir, { recursive: true });
  for (const entry of ['bin', 'deploy', 'node_modules', 'package.json']) if (!existsSync(join(dir, entry))) symlinkSync(join(root, entry), join(dir, entry));
  return dir;
}

/** Runs a step's script as GitHub's `shell: bash` does, with the workflow's env and the expressions filled in. */
async function runStep(run: string, cwd: string, expressions: Record<string, string>, env: Record<string, string>): Promise<string> {
  let filled = run;
  for (const [expression, value] of Object.entries(expressions)) filled = filled.split(`\${{ ${expression} }}`).join(value);
  expect(filled, 'every expression of the step filled in').not.toContain('${{');
  // Not execFileSync: a blocked worker misses vitest's messages for the minute this takes.
  const { stdout, stderr } = await promisify(execFile)('bash', ['--noprofile', '--norc', '-eo', 'pipefail', '-c', filled], { cwd, env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return stdout + stderr;
}

describe('the nightly workflow, run for three nights', () => {
  // A small real atlas: 6 filters of two layers, 16 photos, no probes.
  const config = join(scratch, 'small.yaml');
  writeFileSync(
    config,
    ['atlas: small', 'model: darknet-tiny', 'seed: 7', 'layers:', '  - layer: leaky_re_lu_2', '    filters: "0-3"', '  - layer: conv2d_16', '    filters: [1, 2]',
      'method: { scales: 3, stepsPerScale: 4 }', 'batch: { size: 4 }', 'dataset: { source: imagenet-sample, limit: 16, topK: 4, batchSize: 8 }', ''].join('\n'),
  );
  const env = {
    ATLASES: `small ${config}\n`,
    KEEP_VERSIONS: '2',
    SHARD_THREADS: '1',
    FILTER_ATLAS_CACHE: join(scratch, 'cache'),
    FILTER_ATLAS_OUTPUT: join(scratch, 'merge', 'output'),
  };
  const nights = ['20261205-0317', '20261206-0317', '20261207-0317'];

  it('builds, merges, keeps the last two versions, diffs them and writes their history', async () => {
    const logs: string[] = [];
    for (const stamp of nights) {
      const merge = workspace('merge');
      rmSync(join(merge, 'shards'), { recursive: true, force: true });
      for (const shard of [1, 2]) {
        const job = workspace(`shard-${shard}`);
        logs.push(await runStep(buildScript, job, { 'needs.plan.outputs.stamp': stamp, 'matrix.shard': String(shard), 'strategy.job-total': '2' }, env));
        // The shard's folder holds tonight's version only.
        expect(readdirSync(join(job, 'shard')).filter((n) => n.startsWith('small.'))).toEqual([`small.${stamp}`]);
        cpSync(join(job, 'shard'), join(merge, 'shards', `shard-${shard}`), { recursive: true });
      }
      await runStep(mergeScript, merge, { 'needs.plan.outputs.stamp': stamp }, env);
      const atlas = JSON.parse(readFileSync(join(merge, 'output', `small.${stamp}`, 'atlas.json'), 'utf8')) as { id: string; title: string; complete: boolean };
      expect(atlas).toMatchObject({ id: `small.${stamp}`, complete: true });
      expect(atlas.title).toMatch(/^small, 2026-12-0[567] 03:17 UTC$/);
      await runStep(keepScript, merge, {}, env);
    }
    // Nights 2 and 3 computed nothing: the adopted folders' records were all reused.
    const summaries = logs.join('\n').match(/shard \d\/2 written to [^\n]*/g) ?? [];
    expect(summaries).toHaveLength(6);
    for (const line of summaries.slice(2)) expect(line).toMatch(/: 0 computed/);

    const output = join(scratch, 'merge', 'output');
    const kept = nights.slice(1).map((n) => `small.${n}`);
    expect(readdirSync(output).filter((n) => n.startsWith('small.'))).toEqual(kept);
    expect(readdirSync(join(output, 'diffs'))).toEqual([`${kept[0]}__${kept[1]}`]);
    expect(existsSync(join(output, 'histories', 'small', 'history.json'))).toBe(true);
  });
});
