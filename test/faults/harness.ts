/**
 * What the fault-injection tests share: running the real CLI (optionally with fs-faults.mjs
 * preloaded), checking that an atlas folder is consistent after a fault, comparing an atlas with an
 * uninterrupted build byte by byte, and recording the suite's figures (figures.mjs sums them).
 */
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { atlasSchema } from '../../pipeline/schema/atlas.js';

export const REPO = join(import.meta.dirname, '../..');
export const CLI = join(REPO, 'bin/filter-atlas.js');
export const TINY = join(REPO, 'test/fixtures/tiny.yaml');
const INJECT = join(import.meta.dirname, 'inject/fs-faults.mjs');
export const FIGURES = join(REPO, 'test-artifacts/faults');

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  /** Load inject/fs-faults.mjs into the process (its settings come through env). */
  inject?: boolean;
  /** Called with the child right after it starts (to kill it). */
  started?: (child: ReturnType<typeof spawn>) => void;
}

/** Runs `filter-atlas <args>` as a user would, to its end; the result, never a throw. */
export function cli(args: string[], options: RunOptions = {}): Promise<RunResult> {
  const node = options.inject ? ['--import', INJECT] : [];
  const child = spawn(process.execPath, [...node, CLI, ...args], { env: { ...process.env, ...options.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  options.started?.(child);
  return new Promise((done) => child.on('close', (code, signal) => done({ code, signal, stdout, stderr })));
}

/** A user error: one `filter-atlas: ...` message, no "unexpected error" and no stack trace. */
export function isUserError(result: RunResult): boolean {
  return result.code === 1 && /^filter-atlas: /m.test(result.stderr) && !/unexpected error|\n\s+at /.test(result.stderr);
}

/** Files under a folder, relative, sorted; temporary files of writes in flight left out. */
export async function filesUnder(root: string): Promise<string[]> {
  const entries = await readdir(root, { withFileTypes: true, recursive: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => relative(root, join(e.parentPath, e.name)))
    .sort();
}

const TEMPORARY = /\.\d+\.[0-9a-f]{8}\.(tmp|partial)$/;

/**
 * What must hold after any fault: atlas.json (when there is one) is a valid atlas whose files all
 * exist, every record is complete JSON, and every file a record names exists. Returns the problems.
 */
export async function consistencyProblems(dir: string): Promise<string[]> {
  const problems: string[] = [];
  const exists = async (file: string) => (await stat(join(dir, file)).catch(() => undefined))?.isFile() ?? false;
  const text = await readFile(join(dir, 'atlas.json'), 'utf8').catch(() => undefined);
  if (text !== undefined) {
    const parsed = atlasSchema.safeParse(JSON.parse(text));
    if (!parsed.success) problems.push(`atlas.json: ${parsed.error.issues[0]?.message}`);
    else {
      const atlas = parsed.data;
      const named = [
        ...atlas.layers.flatMap((l) => [l.datasetMeans, ...l.filters.flatMap((f) => [f.image, f.thumb, ...(f.web ? [f.web.full, f.web.thumb1x, f.web.thumb2x] : []), ...(f.top ?? []).flatMap((t) => [t.crop, t.thumb])])]),
        ...atlas.probes.flatMap((p) => [p.image, p.chart]),
      ].filter((f): f is string => f !== undefined);
      for (const file of named) if (!(await exists(file))) problems.push(`atlas.json names missing ${file}`);
    }
  }
  for (const name of (await readdir(join(dir, 'records')).catch(() => [])).filter((n) => !TEMPORARY.test(n))) {
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(await readFile(join(dir, 'records', name), 'utf8')) as Record<string, unknown>;
    } catch (error) {
      problems.push(`records/${name}: ${(error as Error).message}`);
      continue;
    }
    const files = JSON.stringify(record).match(/"files\/[^"]+"/g) ?? [];
    for (const quoted of files) if (!(await exists(JSON.parse(quoted) as string))) problems.push(`records/${name} names missing ${quoted}`);
  }
  return problems;
}

/** Timing fields, the only bytes two builds of the same config may differ in. */
function withoutTiming(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value), (key, v: unknown) => (key === 'seconds' || key === 'scanSeconds' || key === 'createdAt' ? 0 : v));
}

export interface Comparison {
  files: number;
  /** Bytes of the reference build's files/ and records that were compared. */
  bytes: number;
  /** Bytes of the reference that the other build lacks or holds differently: what a fault lost. */
  bytesLost: number;
  differences: string[];
}

/**
 * Compares an atlas folder with an uninterrupted build of the same config: every file under files/
 * byte for byte, every record and atlas.json byte for byte once the timing fields (seconds,
 * scanSeconds, createdAt: wall-clock measurements) are set to 0. Extra or missing files count.
 */
export async function compareAtlases(reference: string, other: string): Promise<Comparison> {
  const [a, b] = [await filesUnder(reference), await filesUnder(other)];
  const differences: string[] = [];
  let bytes = 0;
  let bytesLost = 0;
  for (const extra of b.filter((f) => !a.includes(f))) differences.push(`extra ${extra}`);
  for (const file of a) {
    const expected = await readFile(join(reference, file));
    bytes += expected.length;
    const actual = await readFile(join(other, file)).catch(() => undefined);
    let same: boolean;
    if (actual === undefined) same = false;
    else if (file.endsWith('.json')) same = JSON.stringify(withoutTiming(JSON.parse(expected.toString()))) === JSON.stringify(withoutTiming(JSON.parse(actual.toString())));
    else same = expected.equals(actual);
    if (!same) {
      differences.push(actual === undefined ? `missing ${file}` : `different ${file}`);
      bytesLost += expected.length;
    }
  }
  return { files: a.length, bytes, bytesLost, differences };
}

/** The suite's figures, one JSON file per test file; `node test/faults/figures.mjs` sums them. */
export interface Figures {
  killsSurvived?: number;
  faultsInjected?: number;
  hostileInputs?: number;
  bytesCompared?: number;
  bytesLost?: number;
  notes?: string[];
}

export async function recordFigures(name: string, figures: Figures): Promise<void> {
  await mkdir(FIGURES, { recursive: true });
  await writeFile(join(FIGURES, `${name}.json`), JSON.stringify(figures, null, 1) + '\n');
}
