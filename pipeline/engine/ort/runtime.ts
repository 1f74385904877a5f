/**
 * Loading onnxruntime-node and choosing its execution provider. The package is imported
 * lazily (it is a native addon, heavy to load), and a failure says how to fix it.
 *
 * GPU: the CPU binaries ship in the npm package; the CUDA provider (CUDA 12 + cuDNN 9
 * on the machine) is a separate download that package.json's allowScripts skips. A GPU user
 * enables it with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm rebuild onnxruntime-node`; the
 * engine then picks CUDA by itself and reports it in `info.device`.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { userError } from '../../errors.js';
import { OnnxGraphBuilder } from './onnx-builder.js';

export type Ort = typeof import('onnxruntime-node');
export type Session = import('onnxruntime-node').InferenceSession;
export type Provider = 'cuda' | 'cpu';

export interface Runtime {
  ort: Ort;
  provider: Provider;
  threads: number;
  /** e.g. "onnxruntime 1.30.0 cpu, 2 threads". */
  device: string;
  createSession(bytes: Uint8Array): Promise<Session>;
}

async function importOrt(): Promise<Ort> {
  try {
    const module = await import('onnxruntime-node');
    // Under tsx/ESM the CommonJS exports may sit on `default`.
    return ('InferenceSession' in module ? module : (module as unknown as { default: Ort }).default) as Ort;
  } catch (error) {
    throw userError(
      {
        where: 'onnxruntime-node',
        expected: 'the onnxruntime-node native module to load',
        received: error instanceof Error ? error.message : String(error),
        fix: 'Reinstall with `ONNXRUNTIME_NODE_INSTALL=skip npm ci` (CPU binaries ship in the package), or use --engine tfjs',
      },
      error,
    );
  }
}

function sessionOptions(provider: Provider, threads: number): import('onnxruntime-node').InferenceSession.SessionOptions {
  return {
    executionProviders: provider === 'cuda' ? [{ name: 'cuda', deviceId: 0 }, 'cpu'] : ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
  };
}

/** A one-node model to find out, cheaply, whether a provider can create sessions at all. */
function probeModel(): Uint8Array {
  const builder = new OnnxGraphBuilder();
  const x = builder.input('x', [1]);
  const y = builder.op('Relu', [x], 'y');
  builder.output(y, [1]);
  return builder.encode('provider probe');
}

/**
 * Whether the CUDA provider library sits next to the native binding. onnxruntime-node's
 * postinstall downloads it (skipped by package.json's allowScripts); without it, trying CUDA
 * only prints a native "cannot open shared object" error.
 */
function cudaProviderInstalled(): boolean {
  try {
    const root = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    const binDir = path.join(root, 'bin', 'napi-v6', process.platform, process.arch);
    return readdirSync(binDir).some((file) => file.includes('providers_cuda'));
  } catch {
    return false;
  }
}

/**
 * CUDA when this onnxruntime build lists it, its provider files are installed and a
 * session actually starts on it (drivers, CUDA 12 and cuDNN 9 present); otherwise CPU.
 */
async function chooseProvider(ort: Ort, threads: number): Promise<Provider> {
  const offersCuda = ort.listSupportedBackends().some((backend) => backend.name === 'cuda');
  if (!offersCuda || !cudaProviderInstalled()) return 'cpu';
  try {
    const session = await ort.InferenceSession.create(probeModel(), { ...sessionOptions('cuda', threads), executionProviders: [{ name: 'cuda', deviceId: 0 }] });
    await session.release();
    return 'cuda';
  } catch {
    return 'cpu';
  }
}

export async function loadRuntime(threads: number | undefined): Promise<Runtime> {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw userError({ where: 'engine option threads', expected: 'a positive integer', received: String(threads) });
  }
  const ort = await importOrt();
  const count = threads ?? os.availableParallelism();
  const provider = await chooseProvider(ort, count);
  const version = ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
  const options = sessionOptions(provider, count);
  return {
    ort,
    provider,
    threads: count,
    device: `onnxruntime ${version} ${provider}, ${count} thread${count === 1 ? '' : 's'}`,
    createSession: (bytes) => ort.InferenceSession.create(bytes, options),
  };
}
