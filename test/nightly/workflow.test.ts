/**
 * The nightly workflow only calls what exists: every `npm run X` is a package.json script, every
 * `npx filter-atlas CMD --flag` is a registered command with that option, every config it builds is
 * in the repository, and it restores, builds, diffs and publishes in that order.
 */
import { existsSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { Command } from 'commander';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { commands } from '../../pipeline/cli/commands/index.js';

const root = resolve(import.meta.dirname, '../..');

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  on: Record<string, unknown>;
  env?: Record<string, string>;
  jobs: Record<string, { steps: Step[] }>;
}

const workflow = parse(readFileSync(resolve(root, '.github/workflows/nightly.yml'), 'utf8')) as Workflow;
const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
const scripts = steps.map((s) => s.run).filter((r): r is string => typeof r === 'string');
const lines = scripts.flatMap((s) => s.split('\n').map((l) => l.trim()));

function cli(): Map<string, Set<string>> {
  const program = new Command('filter-atlas');
  for (const define of commands) define(program);
  return new Map(program.commands.map((c) => [c.name(), new Set(c.options.map((o) => o.long).filter((l): l is string => !!l))]));
}

/** Values of `for VAR in a b c; do` loops over literal lists in a script (every loop of a name, together). */
function loopValues(script: string): Map<string, string[]> {
  const values = new Map<string, string[]>();
  for (const [, name, list] of script.matchAll(/for (\w+) in ([^;\n$]+);/g)) values.set(name, [...new Set([...(values.get(name) ?? []), ...list.trim().split(/\s+/)])]);
  return values;
}

describe('nightly workflow', () => {
  it('runs nightly and on demand', () => {
    expect(workflow.on).toHaveProperty('schedule');
    expect(workflow.on).toHaveProperty('workflow_dispatch');
  });

  it('calls only package.json scripts that exist', () => {
    const pkg = JSON.parse(readFileSync(resolve(root, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const called = lines.flatMap((l) => [...l.matchAll(/npm run ([\w:.-]+)/g)].map((m) => m[1]));
    expect(called).toContain('site:build');
    for (const name of called) expect(Object.keys(pkg.scripts), `npm run ${name}`).toContain(name);
  });

  it('calls only real filter-atlas commands, with options they have', () => {
    const known = cli();
    const calls = lines.filter((l) => l.includes('npx filter-atlas'));
    const names = calls.map((l) => /npx filter-atlas (\S+)/.exec(l)![1]);
    expect(new Set(names)).toEqual(new Set(['build', 'variant', 'diff']));
    for (const line of calls) {
      const [, name, rest] = /npx filter-atlas (\S+)(.*)/.exec(line)!;
      expect([...known.keys()], line).toContain(name);
      for (const [flag] of rest.matchAll(/--[a-z][a-z-]*/g)) expect([...known.get(name)!], `${flag} in: ${line}`).toContain(flag);
    }
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
    expect([...paths]).toEqual(expect.arrayContaining(['config/variants/original.yaml', 'config/variants/quantized.yaml']));
    for (const path of paths) expect(existsSync(resolve(root, path)), path).toBe(true);
  });

  it('restores the atlas and asset caches, builds, diffs, builds the site, then publishes', () => {
    const index = (test: (s: Step) => boolean) => steps.findIndex(test);
    const restoreOutput = index((s) => !!s.uses?.startsWith('actions/cache') && s.with?.path === 'output');
    const restoreAssets = index((s) => !!s.uses?.startsWith('actions/cache') && s.with?.path === '.cache/filter-atlas');
    const build = index((s) => !!s.run?.includes('npx filter-atlas build'));
    const diff = index((s) => !!s.run?.includes('atlas.published.json') && !!s.run?.includes('npx filter-atlas diff'));
    const site = index((s) => !!s.run?.includes('npm run site:build'));
    const publish = index((s) => !!s.uses?.startsWith('actions/upload-pages-artifact'));
    for (const i of [restoreOutput, restoreAssets, build, diff, site, publish]) expect(i).toBeGreaterThanOrEqual(0);
    expect(restoreOutput).toBeLessThan(build);
    expect(restoreAssets).toBeLessThan(build);
    expect(build).toBeLessThan(diff);
    expect(diff).toBeLessThan(site);
    expect(site).toBeLessThan(publish);
    expect(Object.values(workflow.jobs).some((job) => job.steps.some((s) => s.uses?.startsWith('actions/deploy-pages')))).toBe(true);
  });
});
