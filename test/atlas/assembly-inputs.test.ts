/**
 * Build and merge gather atlas.json's inputs with one function (assembly-inputs.ts gatherAssembly):
 * a one-process build and a merge of 2 shards of the same small config (1 engine thread each, so they
 * share every record key) hand the assembly the same inputs: the same records of every filter and
 * method, the same web images, scan, examples (one examples key), dominant labels (one labeller),
 * connections, probe model and probes, and the same record keys taken. Only timing fields differ.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { testBuildDeps } from './build-deps.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gatherAssembly, type Gathered } from '../../pipeline/atlas/assembly-inputs.js';
import { runBuild } from '../../pipeline/atlas/build.js';
import { runMerge } from '../../pipeline/atlas/merge.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { cli } from '../faults/harness.js';

const CONFIG = `
atlas: gather
model: darknet-tiny
seed: 5
layers:
  - layer: leaky_re_lu_2
    filters: "0-3"
  - layer: conv2d_16
    filters: [1, 2]
method: { scales: 2, stepsPerScale: 2 }
batch: { size: 2 }
dataset: { source: imagenet-sample, limit: 8, topK: 2, batchSize: 8 }
probes:
  - image: photos/chelsea.png
    layer: conv2d_16
    top: 3
`;

let work: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-gather-'));
});

afterAll(async () => {
  if (work) await rm(work, { recursive: true, force: true });
});

/** A gatherAssembly that keeps what it returned last. */
function recording(): { gather: typeof gatherAssembly; last: () => Gathered | undefined } {
  let last: Gathered | undefined;
  return {
    gather: async (...args) => (last = await gatherAssembly(...args)),
    last: () => last,
  };
}

/** Comparable: maps and sets as sorted entries, timing fields 0, the labeller by what it says of every filter's top images. */
function comparable(gathered: Gathered): unknown {
  const { dataset, ...content } = gathered.content;
  const labels = dataset ? [...dataset.examples].flatMap(([layer, filters]) => [...filters].map(([filter, r]) => [layer, filter, dataset.labeller?.(r.top.map((t) => t.file)) ?? null])) : [];
  const sorted = (entries: unknown[]) => entries.sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1));
  return JSON.parse(
    JSON.stringify({ content: { ...content, dataset: dataset && { ...dataset, labeller: undefined } }, labels, withoutWeb: gathered.withoutWeb.length, taken: [...gathered.taken].sort() }, (key, value: unknown) => {
      if (key === 'seconds') return 0;
      if (value instanceof Map) return sorted([...value]);
      if (value instanceof Set) return sorted([...value]);
      return value;
    }),
  );
}

describe('one gathering for build and merge', () => {
  it('a build and a merge of its shards hand the assembly the same inputs', async () => {
    const file = join(work, 'gather.yaml');
    await writeFile(file, CONFIG);
    const config = await loadConfig(file);
    config.output = join(work, 'one');
    config.threads = 1;
    const built = recording();
    const [shards] = await Promise.all([
      Promise.all([1, 2].map((k) => cli(['build', file, '--threads', '1', '--shard', `${k}/2`, '--output', join(work, 'shards', String(k))]))),
      runBuild(config, testBuildDeps(config, { gather: built.gather })),
    ]);
    for (const run of shards) expect(run.code, run.stderr).toBe(0);

    const merged = recording();
    // The shards' own code version: this test is about gathering, and pipeline/ may change while it runs.
    const { codeVersion } = JSON.parse(await readFile(join(work, 'shards', '1', 'gather', 'shards', '1-of-2.json'), 'utf8')) as { codeVersion: string };
    const [summary] = await runMerge(
      { dirs: [1, 2].map((k) => join(work, 'shards', String(k))), output: join(work, 'merged') },
      { log: () => {}, now: () => new Date(), codeVersion: async () => codeVersion, gather: merged.gather },
    );
    expect(summary.complete).toBe(true);

    const [a, b] = [built.last(), merged.last()];
    expect(a?.missingUnits).toEqual([]);
    expect(b?.missingUnits).toEqual([]);
    // Every part is there: pictures of both layers, web images, the dataset with labels, connections, the probe model and the probe.
    expect(a?.content.dataset?.examples.size).toBe(2);
    expect(a?.content.connections?.records.size).toBe(1);
    expect(a?.content.probeModel).toBeDefined();
    expect(a?.content.probes).toHaveLength(1);
    expect(a?.content.web.size).toBe(6);
    expect(comparable(b!)).toEqual(comparable(a!));
  }, 600_000);
});
