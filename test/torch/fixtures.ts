/**
 * The PyTorch references of test/torch/fixtures.py, generated once per version of the script and of
 * PyTorch into a cache outside the clone (FILTER_ATLAS_TEST_CACHE, default the user's cache folder
 * `filter-atlas-tests`: torch-fixtures/<sha of script + versions>) and reused, so a clean clone on the
 * same machine skips the ~4 min of generation and a new machine or a new torch makes them anew.
 * Debian's python3-torch must be there; outside CI a machine without it skips the tests that need
 * them (CI installs it, so there they run).
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import envPaths from 'env-paths';

const run = promisify(execFile);
export const PYTHON = process.env.FILTER_ATLAS_PYTHON ?? '/usr/bin/python3';
const SCRIPT = resolve(import.meta.dirname, 'fixtures.py');

export interface ReferenceLayer {
  layer: string;
  /** PyTorch's output shape, batch first. */
  shape: number[];
  filters: number[];
  objective: number[];
  gradient: string;
  maxGradient: number;
  /** Whether the images' gradient at this layer is free of rounding-sized kink decisions (fixtures.py); only then is it compared. */
  certified: boolean;
  /** The largest error of PyTorch float32 and of the noise draws against float64, relative to the largest value. */
  certificate: number;
}

/** Channel means of a module's output (per image, per channel), from a float64 forward pass. */
export interface ReferenceMeans {
  layer: string;
  shape: number[];
  means: number[][];
}

export interface TorchCase {
  id: string;
  arch: string;
  onnx: string;
  opset: number;
  /** The size the model was exported (traced) at, and the size of this case. */
  exportSize: [number, number];
  size: [number, number];
  /** PyTorch's own float32 vs float64 gradient error on these images (see fixtures.py); gradient cases only. */
  certificate?: number;
  n: number;
  images: string;
  /** Gradient references (empty for forward-only cases). */
  layers: ReferenceLayer[];
  /** Forward references: channel means at the export size. */
  means?: ReferenceMeans[];
}

export interface TorchFixtures {
  dir: string;
  torch: string;
  cases: TorchCase[];
}

/** "torch <version> torchvision <version>", or undefined when PYTHON cannot import them. */
async function torchVersions(): Promise<string | undefined> {
  try {
    const { stdout } = await run(PYTHON, ['-c', 'import torch, torchvision; print("torch", torch.__version__, "torchvision", torchvision.__version__)']);
    return stdout.trim();
  } catch {
    return undefined;
  }
}

/** Where generated references are kept between clones. */
export function testCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.FILTER_ATLAS_TEST_CACHE?.trim() || envPaths('filter-atlas-tests', { suffix: '' }).cache;
}

/**
 * The output folder of a torch script (run as `PYTHON script OUT_DIR ...args`), generated once per
 * version of the script and of PyTorch under <test cache>/<cacheName>/<key> and reused; undefined
 * (with the reason logged) when torch is missing outside CI. `label` names it in the log.
 */
export async function cachedTorchOutput(script: string, cacheName: string, label: string, args: string[] = []): Promise<{ dir: string; versions: string } | undefined> {
  const source = await readFile(script);
  const versions = await torchVersions();
  if (!versions) {
    const reason = `${PYTHON} cannot import torch and torchvision (apt-get install python3-torch python3-torchvision)`;
    if (process.env.CI) throw new Error(`${label}: ${reason}`);
    console.warn(`skipping the tests that need ${label}: ${reason}`);
    return undefined;
  }
  const key = createHash('sha256').update(source).update(versions).digest('hex').slice(0, 16);
  const dir = join(testCacheDir(), cacheName, key);
  const manifest = join(dir, 'manifest.json');
  if (!(await stat(manifest).catch(() => undefined))) {
    const started = performance.now();
    const partial = `${dir}.partial-${process.pid}`;
    await rm(partial, { recursive: true, force: true });
    await run(PYTHON, [script, partial, ...args], { maxBuffer: 64 * 1024 * 1024, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
    await mkdir(dirname(dir), { recursive: true });
    // Another test process may have finished the same output first: then its copy is used.
    await rename(partial, dir).catch(async (error: unknown) => {
      if (!(await stat(manifest).catch(() => undefined))) throw error;
      await rm(partial, { recursive: true, force: true });
    });
    console.log(`${label} (${versions}) generated in ${((performance.now() - started) / 1000).toFixed(0)} s: ${dir}`);
  }
  return { dir, versions };
}

/** The fixtures, generating them if needed; undefined (with the reason logged) when torch is missing outside CI. */
export async function torchFixtures(): Promise<TorchFixtures | undefined> {
  const output = await cachedTorchOutput(SCRIPT, 'torch-fixtures', 'PyTorch references');
  if (!output) return undefined;
  const parsed = JSON.parse(await readFile(join(output.dir, 'manifest.json'), 'utf8')) as { torch: string; cases: TorchCase[] };
  return { dir: output.dir, torch: parsed.torch, cases: parsed.cases };
}

export async function readFloats(path: string): Promise<Float32Array> {
  const bytes = await readFile(path);
  return new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}
