/**
 * Loading onnxruntime-node and opening sessions on the execution provider the device resolved to
 * (providers.ts). The package is imported lazily (it is a native addon, heavy to load), and a
 * failure says how to fix it.
 */
import os from 'node:os';
import { userError } from '../../errors.js';
import type { DeviceName } from '../../schema/device.js';
import { chooseProvider, providerEntry, type Provider } from './providers.js';
import { webgpuCpuNodes } from './webgpu-fallback.js';

export type Ort = typeof import('onnxruntime-node');
export type Session = import('onnxruntime-node').InferenceSession;

export interface Runtime {
  ort: Ort;
  provider: Provider;
  threads: number;
  /** e.g. "onnxruntime 1.30.0 cpu, 2 threads". */
  device: string;
  /** For device auto: what was chosen and why (EngineInfo.selection). */
  selection?: string;
  /** `extra`: more session options (profiling). */
  createSession(bytes: Uint8Array, extra?: Partial<SessionOptions>): Promise<Session>;
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

type SessionOptions = import('onnxruntime-node').InferenceSession.SessionOptions;

function sessionOptions(provider: Provider, threads: number, model: Uint8Array): SessionOptions {
  // The CPU provider runs whatever a GPU provider cannot; ONNX Runtime adds it when not listed.
  const forceCpu = provider === 'webgpu' ? webgpuCpuNodes(model) : [];
  return {
    executionProviders: provider === 'cpu' ? ['cpu'] : [providerEntry(provider, forceCpu), 'cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 3,
    // The intra-op threads stop spinning when a run ends instead of spinning on for the next one: the
    // lucid method's kernels run on worker threads between runs and lost the cores to the spinning
    // (outside the engine 11 % -> 8 % of a step at batch 16; bench/default-eighth.yaml unchanged, 82-84 s;
    // a one-image run right after another pays the wake-up, 17.2 -> 18.5 ms: bench/spin-stop.ts).
    extra: { session: { force_spinning_stop: '1' } },
  };
}

export interface RuntimeOptions {
  threads?: number;
  /** @default 'auto' */
  device?: DeviceName;
}

export async function loadRuntime({ threads, device = 'auto' }: RuntimeOptions = {}): Promise<Runtime> {
  if (threads !== undefined && !(Number.isInteger(threads) && threads >= 1)) {
    throw userError({ where: 'engine option threads', expected: 'a positive integer', received: String(threads) });
  }
  const ort = await importOrt();
  const count = threads ?? os.availableParallelism();
  const { provider, selection } = await chooseProvider(ort, device);
  const version = ort.env.versions?.node ?? ort.env.versions?.common ?? 'unknown';
  return {
    ort,
    provider,
    threads: count,
    // Threads stay in the string on a GPU too: the nodes left to the CPU run on them.
    device: `onnxruntime ${version} ${provider}, ${count} thread${count === 1 ? '' : 's'}`,
    ...(selection ? { selection } : {}),
    createSession: (bytes, extra = {}) => ort.InferenceSession.create(bytes, { ...sessionOptions(provider, count, bytes), ...extra }),
  };
}
