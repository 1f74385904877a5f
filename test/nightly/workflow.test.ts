/**
 * The schedulers' files only call what exists. The nightly workflow (.github/workflows/nightly.yml)
 * and the Kubernetes nightly (deploy/kubernetes/: the shard Job template and the driver nightly.mjs):
 * every `npm run X` is a package.json script, every `filter-atlas CMD --flag` is a command of the
 * real CLI (pipeline/cli/commands) with that option, every config and script they name is in the
 * repository. Then the workflow's shape: tonight's version id from one stamp, N shards (a matrix)
 * that adopt last night's folder, a strict merge of their artifacts, the last KEEP_VERSIONS kept
 * with the model store, a diff of the last two, the history, the site, then publishing, in that order.
 * The manifests themselves are validated in test/deploy/kubernetes.test.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { commands } from '../../pipeline/cli/commands/index.js';

const root = resolve(import.meta.dirname, '../..');

function cli(): Map<string, Set<string>> {
  const program = new Command('filter-atlas');
  for (const define of commands) define(program);
  return new Map(program.commands.map((c) => [c.name(), new Set(c.options.map((o) => o.long).filter((l): l is string => !!l))]));
}

/** Checks every `filter-atlas CMD ...` of the lines; returns the commands called. */
function checkFilterAtlasCalls(lines: readonly string[]): string[] {
  const known = cli();
  const calls = lines.filter((l) => /(^|\s)filter-atlas\s/.test(l));
  for (const line of calls) {
    const [, name, rest] = /filter-atlas (\S+)(.*)/.exec(line)!;
    expect([...known.keys()], line).toContain(name);
    for (const [flag] of rest.matchAll(/--[a-z][a-z-]*/g)) expect([...known.get(name)!], `${flag} in: ${line}`).toContain(flag);
  }
  return calls.map((l) => /filter-atlas (\S+)/.exec(l)![1]);
}

/** Checks every `npm run X` of the lines; returns the scripts called. */
function checkNpmScripts(lines: readonly string[]): string[] {
  const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  const called = lines.flatMap((l) => [...l.matchAll(/npm run ([\w:.-]+)/g)].map((m) => m[1]));
  for (const name of called) expect(Object.keys(pkg.scripts), `npm run ${name}`).toContain(name);
  return called;
}

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  if?: string;
  with?: Record<string, unknown>;
}
interface WorkflowJob {
  needs?: string | string[];
  if?: string;
  'runs-on': unknown;
  strategy?: { 'fail-fast'?: boolean; matrix?: Record<string, unknown[]> };
  steps: Step[];
}
interface Workflow {
  on: Record<string, unknown>;
  env?: Record<string, string>;
  jobs: Record<string, WorkflowJob>;
}

describe('nightly workflow', () => {
  const workflow = parse(readFileSync(resolve(root, '.github/workflows/nightly.yml'), 'utf8')) as Workflow;
  const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
  const scripts = steps.map((s) => s.run).filter((r): r is string => typeof r === 'string');
  const lines = scripts.flatMap((s) => s.split('\n').map((l) => l.trim()));
  const { plan, shard, merge, deploy } = workflow.jobs;
  const atlases = (workflow.env?.ATLASES ?? '').split('\n').map((l) => l.trim().split(/\s+/)).filter((l) => l[0]);
  const stamp = '${{ needs.plan.outputs.stamp }}';

  it('runs nightly and on demand', () => {
    expect(workflow.on).toHaveProperty('schedule');
    expect(workflow.on).toHaveProperty('workflow_dispatch');
  });

  it('calls only package.json scripts that exist', () => {
    expect(checkNpmScripts(lines)).toContain('site:build');
  });

  it('calls only real filter-atlas commands, with options they have', () => {
    expect(lines.filter((l) => l.includes('filter-atlas ')).every((l) => l.includes('npx filter-atlas '))).toBe(true);
    expect(new Set(checkFilterAtlasCalls(lines))).toEqual(new Set(['build', 'merge', 'diff', 'history']));
  });

  it('builds configs of the repository under tonight\'s version id, and no variant demo', () => {
    expect(atlases.length).toBeGreaterThan(0);
    for (const [id, config, ...rest] of atlases) {
      expect(rest, `ATLASES line "${id} ${config}"`).toEqual([]);
      expect(id).toMatch(/^[A-Za-z0-9][A-Za-z0-9._-]*$/);
      expect(existsSync(resolve(root, config)), config).toBe(true);
    }
    // The variant demo is a documented example (README), not part of the nightly.
    expect(scripts.join('\n')).not.toMatch(/filter-atlas variant|config\/variants/);
    // One stamp for every job of the run, from the plan job.
    expect(plan.steps.some((s) => s.run?.includes('date -u +%Y%m%d-%H%M') && s.run.includes('GITHUB_OUTPUT'))).toBe(true);
    expect([shard.needs].flat()).toContain('plan');
  });

  it('builds the atlases as a matrix of shards, one thread count for all, one artifact each', () => {
    const shards = shard.strategy?.matrix?.shard ?? [];
    expect(shards.length).toBeGreaterThan(1);
    expect(shards).toEqual(shards.map((_, i) => i + 1));
    expect(shard.strategy?.['fail-fast']).toBe(false);
    // The runner is a variable: GitHub's by default, a self-hosted GPU runner's labels when set.
    expect(String(shard['runs-on'])).toMatch(/vars\.SHARD_RUNNER/);
    expect(String(shard['runs-on'])).toContain('ubuntu-24.04');
    const build = shard.steps.find((s) => s.run?.includes('npx filter-atlas build'))!;
    expect(build.run).toContain(`version="$id.${stamp}"`);
    expect(build.run).toContain(`title=$(node deploy/nightly-versions.mjs title "$id" "${stamp}")`);
    expect(build.run).toContain('--atlas "$version" --title "$title" --shard ${{ matrix.shard }}/${{ strategy.job-total }}');
    expect(build.run).toMatch(/--threads "\$SHARD_THREADS"/);
    expect(build.run).toContain('done <<< "$ATLASES"');
    expect(Number(workflow.env?.SHARD_THREADS)).toBeGreaterThan(0);
    const output = /--output (\S+)/.exec(build.run!)![1];
    // Last night's folder becomes tonight's before the build (its records are reused).
    const adopt = build.run!.indexOf(`node deploy/nightly-versions.mjs adopt ${output} "$id" "$version"`);
    expect(adopt).toBeGreaterThanOrEqual(0);
    expect(adopt).toBeLessThan(build.run!.indexOf('npx filter-atlas build'));
    // The shard's model store holds tonight's weights only (merge gathers them from there).
    expect(build.run!.indexOf(`node deploy/nightly-versions.mjs clear-store ${output}\n`)).toBeGreaterThanOrEqual(0);
    expect(build.run!.indexOf('clear-store')).toBeLessThan(build.run!.indexOf('while read'));
    const upload = shard.steps.find((s) => s.uses?.startsWith('actions/upload-artifact'))!;
    expect(upload.with).toMatchObject({ name: 'shard-${{ matrix.shard }}', path: output });
    const index = (test: (s: Step) => boolean) => shard.steps.findIndex(test);
    const restoreAssets = index((s) => !!s.uses?.startsWith('actions/cache') && s.with?.path === '.cache/filter-atlas');
    const restoreShard = index((s) => !!s.uses?.startsWith('actions/cache/restore') && s.with?.path === output);
    const buildAt = shard.steps.indexOf(build);
    for (const i of [restoreAssets, restoreShard]) expect(i).toBeGreaterThanOrEqual(0);
    expect(restoreAssets).toBeLessThan(buildAt);
    expect(restoreShard).toBeLessThan(buildAt);
    expect(buildAt).toBeLessThan(shard.steps.indexOf(upload));
  });

  it('merges tonight\'s version strictly, keeps the last KEEP_VERSIONS with the model store, diffs, writes the history, builds the site, then publishes', () => {
    expect([merge.needs].flat().sort()).toEqual(['plan', 'shard']);
    expect(merge.if).toContain('!cancelled()');
    expect([deploy.needs].flat()).toEqual(['merge']);
    // N in one place: the env, used by name.
    expect(Number(workflow.env?.KEEP_VERSIONS)).toBeGreaterThan(1);
    const text = readFileSync(resolve(root, '.github/workflows/nightly.yml'), 'utf8');
    expect(text.match(/KEEP_VERSIONS: /g)).toHaveLength(1);
    const index = (test: (s: Step) => boolean) => merge.steps.findIndex(test);
    const restoreOutput = index((s) => !!s.uses?.startsWith('actions/cache/restore') && s.with?.path === 'output');
    const saveOutput = index((s) => !!s.uses?.startsWith('actions/cache/save') && s.with?.path === 'output');
    const download = index((s) => !!s.uses?.startsWith('actions/download-artifact'));
    const mergeAt = index((s) => !!s.run?.includes('npx filter-atlas merge'));
    const keep = index((s) => !!s.run?.includes('node deploy/nightly-versions.mjs prune output "$id" "$KEEP_VERSIONS"'));
    const site = index((s) => !!s.run?.includes('npm run site:build'));
    const publish = index((s) => !!s.uses?.startsWith('actions/upload-pages-artifact'));
    for (const i of [restoreOutput, saveOutput, download, mergeAt, keep, site, publish]) expect(i).toBeGreaterThanOrEqual(0);
    // The download takes the shards' artifacts into the folder merge reads; --strict fails before publishing.
    const downloaded = merge.steps[download].with as { pattern: string; path: string };
    expect('shard-1').toMatch(new RegExp(`^${downloaded.pattern.replace('*', '.*')}$`));
    expect(merge.steps[mergeAt].run).toContain(`npx filter-atlas merge ${downloaded.path}/*/"$id.${stamp}" --output output --strict`);
    // The kept versions (prune prints them, oldest first): the last two diffed, all in the history.
    const kept = merge.steps[keep].run!;
    expect(kept).toContain('npx filter-atlas diff "${versions[n-2]}" "${versions[n-1]}"');
    expect(kept).toContain('npx filter-atlas history "${versions[@]}" --name "$id" --output output');
    expect(merge.steps[keep]).not.toHaveProperty('continue-on-error');
    // The kept atlases and output/model-store (the weights of every kept version) are one cache.
    expect(merge.steps[saveOutput].with?.key).toBe(merge.steps[restoreOutput].with?.key);
    expect(workflow.env?.FILTER_ATLAS_OUTPUT).toBe('${{ github.workspace }}/output');
    expect(restoreOutput).toBeLessThan(mergeAt);
    expect(download).toBeLessThan(mergeAt);
    expect(mergeAt).toBeLessThan(keep);
    expect(keep).toBeLessThan(site);
    expect(site).toBeLessThan(publish);
    expect(deploy.steps.some((s) => s.uses?.startsWith('actions/deploy-pages'))).toBe(true);
  });
});

describe('Kubernetes nightly', () => {
  const template = parse(readFileSync(resolve(root, 'deploy/kubernetes/shard-job.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: Array<{ command?: string[]; args?: string[] }> } } };
  };
  const shardLines = template.spec.template.spec.containers.flatMap((c) => [...(c.command ?? []), ...(c.args ?? [])].join(' ').split('\n').map((l) => l.trim()));
  // The driver's commands, as written in it: run('npx', ['filter-atlas', 'merge', ..., '--strict']).
  const driver = readFileSync(resolve(root, 'deploy/kubernetes/nightly.mjs'), 'utf8');
  const driverLines = [...driver.matchAll(/run\('(npx|npm)', \[([^\n]*)\]/g)].map(([, tool, args]) => {
    const words = [...args.matchAll(/'([^']*)'/g)].map((m) => m[1]);
    return [tool, ...words].join(' ');
  });

  it('the shard pods and the driver call only real filter-atlas commands with options they have, and scripts of the repository', () => {
    expect(new Set(checkFilterAtlasCalls(shardLines))).toEqual(new Set(['build']));
    expect(new Set(checkFilterAtlasCalls(driverLines))).toEqual(new Set(['merge', 'diff', 'history']));
    expect(driverLines.find((l) => l.includes('filter-atlas merge'))).toContain('--strict');
    expect(checkNpmScripts(driverLines)).toEqual(['site:build']);
    for (const line of [...shardLines, 'node deploy/kubernetes/nightly.mjs']) {
      for (const [path] of line.matchAll(/deploy\/[\w./-]+\.mjs/g)) expect(existsSync(resolve(root, path)), path).toBe(true);
    }
    const build = shardLines.find((l) => l.includes('filter-atlas build'))!;
    expect(build).toContain('--atlas "$ATLAS_VERSION" --title "$ATLAS_TITLE"');
    expect(build).toContain('--output "$dir"');
    expect(shardLines.some((l) => l.includes('node deploy/nightly-versions.mjs adopt "$dir" "$ATLAS_ID" "$ATLAS_VERSION"'))).toBe(true);
    expect(shardLines.some((l) => l.includes('node deploy/nightly-versions.mjs clear-store "$dir"'))).toBe(true);
    // The image is the repository's (deploy/Dockerfile builds it, with deploy/ inside).
    expect(readFileSync(resolve(root, 'deploy/Dockerfile'), 'utf8')).toMatch(/^COPY \. \.$/m);
  });
});
