/**
 * The schedulers' files only call what exists. The nightly workflow (.github/workflows/nightly.yml)
 * and the Kubernetes jobs (deploy/kubernetes/atlas-job.yaml): every `npm run X` is a package.json
 * script, every `filter-atlas CMD --flag` is a registered command with that option, every config and
 * script they name is in the repository. Then their shape: the workflow builds N shards (a matrix),
 * merges their artifacts, diffs and publishes, in that order; the Indexed Job's shard count, folders
 * and names agree with the merge Job that follows it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { parse, parseAllDocuments } from 'yaml';
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

/** Values of `for VAR in a b c; do` loops over literal lists in a script (every loop of a name, together). */
function loopValues(script: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const [, name, list] of script.matchAll(/for (\w+) in ([^;\n$]+);/g)) values.set(name, [...new Set([...(values.get(name) ?? []), ...list.trim().split(/\s+/)])]);
  return values;
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
  const { shard, merge, deploy } = workflow.jobs;

  it('runs nightly and on demand', () => {
    expect(workflow.on).toHaveProperty('schedule');
    expect(workflow.on).toHaveProperty('workflow_dispatch');
  });

  it('calls only package.json scripts that exist', () => {
    expect(checkNpmScripts(lines)).toContain('site:build');
  });

  it('calls only real filter-atlas commands, with options they have', () => {
    expect(lines.filter((l) => l.includes('filter-atlas ')).every((l) => l.includes('npx filter-atlas '))).toBe(true);
    expect(new Set(checkFilterAtlasCalls(lines))).toEqual(new Set(['build', 'merge', 'variant', 'diff']));
  });

  it('builds only configs that are in the repository', () => {
    // The main atlases come from ATLAS_CONFIGS; the rest are written out (a $VAR from a literal for-loop is expanded).
    expect(scripts.some((s) => /for config in \$ATLAS_CONFIGS;[\s\S]*build "\$config"/.test(s))).toBe(true);
    const paths = new Set((workflow.env?.ATLAS_CONFIGS ?? '').split(/\s+/).filter(Boolean));
    for (const script of scripts) {
      const loops = loopValues(script);
      for (const [path] of script.matchAll(/config\/[\w./$-]+\.yaml/g)) {
        const variable = /\$(\w+)/.exec(path);
        if (!variable) paths.add(path);
        else for (const value of loops.get(variable[1]) ?? []) paths.add(path.replace(variable[0], value));
      }
    }
    expect([...paths]).toEqual(expect.arrayContaining(['config/default.yaml', 'config/variants/original.yaml', 'config/variants/quantized.yaml']));
    for (const path of paths) expect(existsSync(resolve(root, path)), path).toBe(true);
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
    expect(build.run).toContain('--shard ${{ matrix.shard }}/${{ strategy.job-total }}');
    expect(build.run).toMatch(/--threads "\$SHARD_THREADS"/);
    expect(Number(workflow.env?.SHARD_THREADS)).toBeGreaterThan(0);
    const output = /--output (\S+)/.exec(build.run!)![1];
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

  it('merges every shard (also after a failed one), diffs, builds the site, then publishes', () => {
    expect([merge.needs].flat()).toEqual(['shard']);
    expect(merge.if).toContain('!cancelled()');
    expect([deploy.needs].flat()).toEqual(['merge']);
    const index = (test: (s: Step) => boolean) => merge.steps.findIndex(test);
    const restoreOutput = index((s) => !!s.uses?.startsWith('actions/cache') && s.with?.path === 'output');
    const download = index((s) => !!s.uses?.startsWith('actions/download-artifact'));
    const mergeAt = index((s) => !!s.run?.includes('npx filter-atlas merge'));
    const diff = index((s) => !!s.run?.includes('atlas.published.json') && !!s.run?.includes('npx filter-atlas diff'));
    const site = index((s) => !!s.run?.includes('npm run site:build'));
    const publish = index((s) => !!s.uses?.startsWith('actions/upload-pages-artifact'));
    for (const i of [restoreOutput, download, mergeAt, diff, site, publish]) expect(i).toBeGreaterThanOrEqual(0);
    // The download takes the shards' artifacts into the folder merge reads.
    const downloaded = merge.steps[download].with as { pattern: string; path: string };
    expect('shard-1').toMatch(new RegExp(`^${downloaded.pattern.replace('*', '.*')}$`));
    expect(merge.steps[mergeAt].run).toContain(`npx filter-atlas merge ${downloaded.path}/* --output output`);
    expect(restoreOutput).toBeLessThan(mergeAt);
    expect(download).toBeLessThan(mergeAt);
    expect(mergeAt).toBeLessThan(diff);
    expect(diff).toBeLessThan(site);
    expect(site).toBeLessThan(publish);
    expect(deploy.steps.some((s) => s.uses?.startsWith('actions/deploy-pages'))).toBe(true);
  });
});

interface Container {
  name: string;
  image: string;
  command?: string[];
  args?: string[];
  env?: Array<{ name: string; value?: string }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
}
interface PodSpec {
  serviceAccountName?: string;
  initContainers?: Container[];
  containers: Container[];
  volumes?: Array<{ name: string; persistentVolumeClaim?: { claimName: string } }>;
}
interface Resource {
  kind: string;
  metadata: { name: string };
  spec?: { completionMode?: string; completions?: number; parallelism?: number; template?: { spec: PodSpec } };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }>;
  subjects?: Array<{ kind: string; name: string }>;
  roleRef?: { kind: string; name: string };
}

describe('Kubernetes jobs', () => {
  const resources = parseAllDocuments(readFileSync(resolve(root, 'deploy/kubernetes/atlas-job.yaml'), 'utf8')).map((doc) => doc.toJS() as Resource);
  const jobs = resources.filter((r) => r.kind === 'Job');
  const containers = jobs.flatMap((job) => [...(job.spec!.template!.spec.initContainers ?? []), ...job.spec!.template!.spec.containers]);
  const lines = containers.map((c) => [...(c.command ?? []), ...(c.args ?? [])].join(' '));
  const shards = jobs.find((job) => job.spec?.completionMode === 'Indexed')!;
  const merge = jobs.find((job) => job !== shards)!;
  const shardContainer = shards.spec!.template!.spec.containers[0];
  const mergeLine = lines.find((l) => l.includes('filter-atlas merge'))!;

  it('call only real filter-atlas commands with options they have, configs and scripts of the repository', () => {
    expect(new Set(checkFilterAtlasCalls(lines))).toEqual(new Set(['build', 'merge']));
    checkNpmScripts(lines);
    for (const line of lines) {
      for (const [path] of line.matchAll(/(?:config|deploy)\/[\w./-]+\.(?:yaml|mjs)/g)) expect(existsSync(resolve(root, path)), path).toBe(true);
    }
    // The image is the repository's (deploy/Dockerfile builds it).
    expect(existsSync(resolve(root, 'deploy/Dockerfile'))).toBe(true);
    expect(new Set(containers.map((c) => c.image))).toEqual(new Set(['filter-atlas:latest']));
  });

  it('run N shards as an Indexed Job, one thread count, one folder per index', () => {
    const n = shards.spec!.completions!;
    expect(n).toBeGreaterThan(1);
    expect(shards.spec!.parallelism).toBe(n);
    expect(shardContainer.env).toContainEqual({ name: 'FILTER_ATLAS_SHARDS', value: String(n) });
    const build = lines.find((l) => l.includes('filter-atlas build'))!;
    expect(build).toMatch(/--threads \d+/);
    expect(build).toContain('--output "/data/shards/$JOB_COMPLETION_INDEX"');
  });

  it('merge the N folders after the shards Job ends, from the same volume', () => {
    const n = shards.spec!.completions!;
    const folders = /filter-atlas merge ((?:\S+ )+)--output (\S+)/.exec(mergeLine)!;
    expect(folders[1].trim().split(' ')).toEqual(Array.from({ length: n }, (_, i) => `/data/shards/${i}`));
    const wait = merge.spec!.template!.spec.initContainers![0];
    expect(wait.command).toEqual(['node', 'deploy/kubernetes/wait-for-job.mjs', shards.metadata.name]);
    const claims = (job: Resource) => job.spec!.template!.spec.volumes!.map((v) => v.persistentVolumeClaim?.claimName);
    expect(claims(merge)).toEqual(claims(shards));
    expect(resources.some((r) => r.kind === 'PersistentVolumeClaim' && r.metadata.name === claims(shards)[0])).toBe(true);
    // The wait reads the Job through the merge pod's service account.
    const account = merge.spec!.template!.spec.serviceAccountName!;
    const binding = resources.find((r) => r.kind === 'RoleBinding' && r.subjects?.some((s) => s.kind === 'ServiceAccount' && s.name === account))!;
    const role = resources.find((r) => r.kind === 'Role' && r.metadata.name === binding.roleRef!.name)!;
    expect(role.rules).toContainEqual({ apiGroups: ['batch'], resources: ['jobs'], verbs: expect.arrayContaining(['get']) });
  });

  it('waits for a Job that completed or failed, not one still running', async () => {
    const { jobEnded } = (await import(resolve(root, 'deploy/kubernetes/wait-for-job.mjs'))) as { jobEnded: (job: unknown) => boolean };
    expect(jobEnded({ status: { conditions: [{ type: 'Complete', status: 'True' }] } })).toBe(true);
    expect(jobEnded({ status: { conditions: [{ type: 'FailureTarget', status: 'True' }, { type: 'Failed', status: 'True' }] } })).toBe(true);
    expect(jobEnded({ status: { active: 3 } })).toBe(false);
    expect(jobEnded({ status: { conditions: [{ type: 'Complete', status: 'False' }] } })).toBe(false);
  });
});
