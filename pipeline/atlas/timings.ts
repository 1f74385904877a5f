/**
 * What this machine has measured, kept in the asset cache (FILTER_ATLAS_CACHE, assets/cache.ts) so
 * that `plan` and the start of `build` can say what a build will cost before it starts:
 *   <cache>/.timings/<cpu model>-<threads>t.json
 * holds the peak (`npm run bench -- --peak`: ONNX Runtime MatMul 2048^3) and, per engine and
 * device and per atlas, the per-stage figures of its last build (an atlas's own figures estimate it
 * best; a small test build must not stand for a large one). The key is the machine (CPU model and engine
 * threads): another machine, or another thread count, measures anew. A damaged file reads as empty
 * (it only costs an estimate), and is rewritten atomically.
 */
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { resolveCacheDir } from '../assets/cache.js';
import { writeFileAtomic } from '../util/fs.js';
import { safeFileName } from '../util/file-names.js';

/** The stage names of build --json's `stages` (the progress bars' labels where there is one). */
export const STAGE_NAMES = ['filters', 'web images', 'dataset scan', 'dataset examples', 'connections', 'probes'] as const;
export type StageName = (typeof STAGE_NAMES)[number];

/** One stage of a build, as build --json reports it. */
export interface StageFigures {
  name: StageName;
  /** Wall seconds. */
  seconds: number;
  /** Seconds with an engine call in flight (engine.ts meterEngine): at most `seconds`. */
  engineSeconds: number;
  /** GFLOP the engine computed (its per-node counts); absent for an engine that cannot count (tfjs). */
  gflop?: number;
  /** Units of work done (pictures, photos, rows), for stages without FLOPs (plan.ts estimates them per item). */
  items: number;
}

const stageSchema = z.object({
  name: z.enum(STAGE_NAMES),
  seconds: z.number().nonnegative(),
  engineSeconds: z.number().nonnegative(),
  gflop: z.number().nonnegative().optional(),
  items: z.number().int().nonnegative(),
  plannedGflop: z.number().nonnegative().optional(),
});

const runSchema = z.object({ at: z.string(), atlas: z.string(), stages: z.array(stageSchema) });
/**
 * A stage as the timings keep it: with the GFLOP `plan` counted for it beforehand when the build did
 * all of the stage's planned work, so the next estimate is seconds per planned GFLOP (what `plan`
 * counts on the model graph and what the engine counts differ by a few per cent, more for the
 * connected filters, whose runs the engine scales by rows).
 */
export type StoredStage = z.infer<typeof stageSchema>;
export type RunFigures = z.infer<typeof runSchema>;

const timingsSchema = z.object({
  version: z.literal(1),
  cpu: z.string(),
  threads: z.number().int().positive(),
  peak: z.object({ gflops: z.number().positive(), at: z.string(), what: z.string() }).optional(),
  /** By runKey (engine and device), then by atlas id: the stages of each atlas's last build there. */
  runs: z.record(z.string(), z.record(z.string(), runSchema)),
});
export type MachineTimings = z.infer<typeof timingsSchema>;

export interface Machine {
  cpu: string;
  threads: number;
}

/** This machine with the engine threads a run uses (the engines' default: every core). */
export function thisMachine(threads?: number): Machine {
  return { cpu: os.cpus()[0]?.model.trim() || 'unknown cpu', threads: threads ?? os.availableParallelism() };
}

/** A run's engine and device, e.g. "ort cpu": the key of its figures within a machine's file. */
export function runKey(engine: string, deviceKind: string): string {
  return `${engine} ${deviceKind}`;
}

function timingsPath(machine: Machine, cacheDir: string): string {
  return join(cacheDir, '.timings', `${safeFileName(machine.cpu.replace(/\s+/g, '-'))}-${machine.threads}t.json`);
}

export async function readTimings(machine: Machine, cacheDir: string = resolveCacheDir()): Promise<MachineTimings> {
  const empty: MachineTimings = { version: 1, ...machine, runs: {} };
  try {
    const parsed = timingsSchema.safeParse(JSON.parse(await readFile(timingsPath(machine, cacheDir), 'utf8')));
    return parsed.success && parsed.data.cpu === machine.cpu && parsed.data.threads === machine.threads ? parsed.data : empty;
  } catch {
    return empty;
  }
}

/** Reads, changes and rewrites the machine's file (two writers at once: the last one wins, which only costs an estimate). */
export async function updateTimings(machine: Machine, change: (timings: MachineTimings) => MachineTimings, cacheDir: string = resolveCacheDir()): Promise<void> {
  const timings = change(await readTimings(machine, cacheDir));
  await writeFileAtomic(timingsPath(machine, cacheDir), JSON.stringify(timings, null, 2) + '\n');
}

/** BuildDeps.timings on the asset cache: what the CLI wires. */
export function cacheTimings(cacheDir: string = resolveCacheDir()) {
  return {
    read: (threads?: number) => readTimings(thisMachine(threads), cacheDir),
    write: (threads: number | undefined, key: string, run: { atlas: string; at: string; stages: readonly StoredStage[] }) =>
      updateTimings(thisMachine(threads), (timings) => withRun(timings, key, { ...run, stages: [...run.stages] }), cacheDir),
  };
}

/**
 * The timings with a build's stages recorded under `key` (engine and device): each stage it
 * measured replaces that stage's earlier figures; the others are kept (a build that reused its
 * dataset scan leaves the scan's last measure).
 */
export function withRun(timings: MachineTimings, key: string, run: RunFigures): MachineTimings {
  const atlases = timings.runs[key] ?? {};
  const earlier = atlases[run.atlas]?.stages ?? [];
  const stages = STAGE_NAMES.flatMap((name) => {
    const stage = run.stages.find((s) => s.name === name) ?? earlier.find((s) => s.name === name);
    return stage ? [stage] : [];
  });
  // The most recent atlases only: the file stays small.
  const kept = Object.entries({ ...atlases, [run.atlas]: { at: run.at, atlas: run.atlas, stages } })
    .sort(([, a], [, b]) => b.at.localeCompare(a.at))
    .slice(0, MAX_ATLASES);
  return { ...timings, runs: { ...timings.runs, [key]: Object.fromEntries(kept) } };
}

/** Atlases whose figures are kept per engine and device. */
const MAX_ATLASES = 20;
