/**
 * `filter-atlas history`: two or more atlases of one architecture, in order -> history.json. Every
 * consecutive pair is diffed with runDiff (the same scores, statuses and unit matching as `diff`);
 * a filter's unit is then followed from version to version through each step's matching: the unit
 * of version k+1 is the one the diff of k -> k+1 compared it with.
 */
import { join, relative, sep } from 'node:path';
import { userError } from '../errors.js';
import { HISTORY_SCHEMA_VERSION, historySchema, type AtlasHistory, type HistoryFilter, type HistoryPoint } from '../schema/history.js';
import { checkComparable, readAtlasForDiff, type LoadedAtlas } from './read.js';
import { runDiff, type DiffDeps, type DiffInput } from './run.js';
import type { AtlasDiff, DiffSide, FilterDiff } from './schema.js';

export interface HistoryInput extends Omit<DiffInput, 'a' | 'b' | 'out' | 'modelA' | 'modelB'> {
  /** Atlas folders or atlas.json files, oldest first. */
  atlases: string[];
  /** The history's name (its folder under histories/). */
  name: string;
  /** The folder history.json will be written to: paths in the history are relative to it. */
  out: string;
}

/** The default history folder: <output>/histories/<name>. */
export function defaultHistoryDir(output: string, name: string): string {
  return join(output, 'histories', name);
}

/** The same layers (names and channels) in every version, checked pairwise as `diff` checks them, with the versions named. */
function checkOneArchitecture(loaded: readonly LoadedAtlas[]): void {
  for (let k = 1; k < loaded.length; k++) {
    try {
      checkComparable(loaded[k - 1], loaded[k]);
    } catch (error) {
      throw userError(
        {
          where: `filter-atlas history: version ${k - 1} (${loaded[k - 1].atlas.id}) and version ${k} (${loaded[k].atlas.id})`,
          expected: 'atlases of one architecture (the same layers and channels), built on the same dataset',
          received: error instanceof Error ? error.message : String(error),
          fix: 'Pass versions of one model (checkpoints, fine-tunes, releases), each built from a config listing the same layers and dataset.',
        },
        error,
      );
    }
  }
}

const pointOf = (side: DiffSide): HistoryPoint => ({
  filter: side.filter,
  status: side.status,
  dead: side.dead,
  ...(side.image ? { image: side.image } : {}),
  ...(side.thumb ? { thumb: side.thumb } : {}),
  datasetMean: side.datasetMean,
});

/** The first step (1-based version it leads to) whose status passes `test`, or null. */
function firstVersion(steps: HistoryFilter['steps'], test: (status: string) => boolean): number | null {
  const k = steps.findIndex((step) => step !== null && test(step.status));
  return k < 0 ? null : k + 1;
}

/**
 * Chains the steps' compared units into tracks. A track starts at every filter of version 0 and at
 * every compared unit of a later version that no earlier track reached (a filter selection that grew).
 */
export function followUnits(diffs: readonly AtlasDiff[], versions: number): HistoryFilter[] {
  const tracks: HistoryFilter[] = [];
  // Per step, per layer: A's channel -> the compared unit.
  const byStep = diffs.map((diff) => {
    const map = new Map<string, Map<number, FilterDiff>>();
    for (const f of diff.filters) {
      if (!map.has(f.layer)) map.set(f.layer, new Map());
      map.get(f.layer)!.set(f.a.filter, f);
    }
    return map;
  });
  const layerOrder = diffs[0].layers.map((l) => l.name);
  for (const layer of layerOrder) {
    const reached = diffs.map(() => new Set<number>());
    for (let start = 0; start < diffs.length; start++) {
      const starts = [...(byStep[start].get(layer)?.keys() ?? [])].filter((unit) => start === 0 || !reached[start - 1].has(unit)).sort((x, y) => x - y);
      for (const unit of starts) {
        const units: Array<number | null> = Array(versions).fill(null);
        const points: Array<HistoryPoint | null> = Array(versions).fill(null);
        const steps: HistoryFilter['steps'] = Array(versions - 1).fill(null);
        let current: number | undefined = unit;
        for (let k = start; k < diffs.length && current !== undefined; k++) {
          const compared: FilterDiff | undefined = byStep[k].get(layer)?.get(current);
          if (!compared) break;
          units[k] = current;
          points[k] = pointOf(compared.a);
          steps[k] = { score: compared.score, status: compared.status, correlation: compared.signals.correlation };
          units[k + 1] = compared.b.filter;
          points[k + 1] = pointOf(compared.b);
          reached[k].add(compared.b.filter);
          current = compared.b.filter;
        }
        const scores = steps.flatMap((s) => (s ? [s.score] : []));
        tracks.push({
          layer,
          units,
          points,
          steps,
          born: start,
          revived: firstVersion(steps, (s) => s === 'revived'),
          died: firstVersion(steps, (s) => s === 'died'),
          changed: firstVersion(steps, (s) => s === 'changed' || s === 'died' || s === 'revived'),
          maxScore: scores.length ? Math.max(...scores) : 0,
        });
      }
    }
  }
  return tracks;
}

export async function runHistory(input: HistoryInput, deps: DiffDeps): Promise<AtlasHistory> {
  const started = performance.now();
  if (input.atlases.length < 2) {
    throw userError({ where: 'filter-atlas history', expected: 'two or more atlases, oldest first', received: `${input.atlases.length}`, fix: 'Pass every version: filter-atlas history output/v1 output/v2 output/v3.' });
  }
  const loaded: LoadedAtlas[] = [];
  for (const [k, path] of input.atlases.entries()) loaded.push(await readAtlasForDiff(path, k === 0 ? 'A' : 'B'));
  checkOneArchitecture(loaded);
  const diffs: AtlasDiff[] = [];
  for (let k = 1; k < input.atlases.length; k++) {
    input.signal?.throwIfAborted();
    deps.log(`history ${input.name}: step ${k} of ${input.atlases.length - 1}, ${loaded[k - 1].atlas.id} -> ${loaded[k].atlas.id}`);
    const { atlases: _atlases, name: _name, ...options } = input;
    diffs.push(await runDiff({ ...options, a: input.atlases[k - 1], b: input.atlases[k], out: input.out }, deps));
  }
  const versions = loaded.length;
  const layers = diffs[0].layers.map((first) => ({
    name: first.name,
    channels: first.channels,
    steps: diffs.map((diff) => {
      const layer = diff.layers.find((l) => l.name === first.name)!;
      return { compared: layer.compared, counts: layer.counts, status: layer.status, permuted: layer.permuted, meanScore: layer.meanScore };
    }),
  }));
  return historySchema.parse({
    schemaVersion: HISTORY_SCHEMA_VERSION,
    name: input.name,
    createdAt: deps.now().toISOString(),
    versions: loaded.map((l) => ({
      id: l.atlas.id,
      title: l.atlas.title,
      path: relative(input.out, l.dir).split(sep).join('/') || '.',
      createdAt: l.atlas.createdAt,
      model: { name: l.atlas.model.name, spec: l.atlas.model.spec, version: l.atlas.model.version, weightsDigest: l.atlas.model.weightsDigest },
    })),
    dataset: diffs[0].dataset,
    scoring: { description: diffs[0].scoring.description, thresholds: diffs[0].scoring.thresholds },
    steps: diffs.map((diff, k) => ({ from: k, to: k + 1, omitted: diff.omitted, warnings: diff.warnings })),
    layers,
    filters: followUnits(diffs, versions),
    seconds: (performance.now() - started) / 1000,
  });
}
