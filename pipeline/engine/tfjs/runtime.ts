/**
 * Loads TensorFlow.js and picks its backend: the native TensorFlow bindings when the user has
 * installed `@tensorflow/tfjs-node-gpu` or `@tensorflow/tfjs-node` (they are not dependencies:
 * their install downloads libtensorflow), else the WebAssembly backend that ships with the project.
 * tfjs keeps its backend in a process-wide registry, so every tfjs engine of a process shares it.
 *
 * What each `device` means for this engine:
 * - `cpu`: `@tensorflow/tfjs-node` when installed, else WebAssembly (one thread in Node);
 * - `cuda`: `@tensorflow/tfjs-node-gpu` (TensorFlow 2.9 with CUDA 11.2 and cuDNN 8.1); an error
 *   when it is not installed or does not load;
 * - `webgpu`: an error: tfjs's WebGPU backend needs a browser's `navigator.gpu`, which Node lacks
 *   (the onnxruntime engine has a native WebGPU provider: `--engine ort --device webgpu`);
 * - `auto`: tfjs-node-gpu, then tfjs-node, then WebAssembly, with a one-line notice.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { userError } from '../../errors.js';
import type { DeviceKind } from '../engine.js';
import type { DeviceName } from '../../schema/device.js';

export type TfModule = typeof import('@tensorflow/tfjs');
export type TfjsBackendChoice = 'auto' | 'wasm' | 'node';

export interface TfRuntime {
  tf: TfModule;
  /** tfjs backend name: 'wasm' or 'tensorflow'. */
  backend: string;
  /** For EngineInfo.device, e.g. "tfjs 4.22.0 wasm (SIMD, 1 thread)". */
  device: string;
  deviceKind: DeviceKind;
  /** For device auto: what was chosen and why (EngineInfo.selection). */
  selection?: string;
}

const NODE_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

function isMissing(error: unknown, specifier: string): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  const message = error instanceof Error ? error.message : '';
  return (code === 'ERR_MODULE_NOT_FOUND' || code === 'MODULE_NOT_FOUND') && message.includes(specifier);
}

function isTfModule(value: unknown): value is TfModule {
  const mod = value as Partial<TfModule> | null;
  return typeof mod?.grad === 'function' && typeof mod.setBackend === 'function';
}

/** The native bindings, or a list of why each package could not be used. */
async function loadNative(packages: readonly string[]): Promise<{ runtime?: TfRuntime; problems: string[] }> {
  const problems: string[] = [];
  for (const specifier of packages) {
    try {
      // A variable specifier: these packages are optional and absent from package.json.
      const name: string = specifier;
      const imported: unknown = await import(name);
      const mod = (imported as { default?: unknown }).default ?? imported;
      if (!isTfModule(mod)) {
        problems.push(`${specifier} loaded but does not export the tfjs API`);
        continue;
      }
      await mod.setBackend('tensorflow');
      await mod.ready();
      // tfjs-node-gpu falls back to TensorFlow's CPU kernels without a usable GPU; its backend says which.
      const gpu = (mod.backend() as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
      return { runtime: { tf: mod, backend: 'tensorflow', device: `tfjs ${mod.version_core} tensorflow (${specifier.slice(12)})`, deviceKind: gpu ? 'cuda' : 'cpu' }, problems };
    } catch (error) {
      if (isMissing(error, specifier)) problems.push(`${specifier} is not installed`);
      else problems.push(`${specifier} failed to load: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { problems };
}

async function loadWasm(): Promise<TfRuntime> {
  const tf = await import('@tensorflow/tfjs');
  const wasm = await import('@tensorflow/tfjs-backend-wasm');
  // In Node the .wasm binaries are read from disk: point the backend at the package's dist folder.
  // setWasmPaths throws once the backend has been initialised (a second engine in this process).
  if (!tf.findBackend('wasm')) {
    const entry = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(path.dirname(entry) + path.sep);
  }
  let ok = false;
  try {
    ok = await tf.setBackend('wasm');
  } catch (error) {
    throw userError(
      { where: 'tfjs engine', expected: 'the tfjs WebAssembly backend to start', received: error instanceof Error ? error.message : String(error), fix: 'Reinstall dependencies (npm ci) so node_modules/@tensorflow/tfjs-backend-wasm/dist holds the .wasm files, or use --engine ort' },
      error,
    );
  }
  if (!ok) {
    throw userError({ where: 'tfjs engine', expected: 'the tfjs WebAssembly backend to start', received: 'setBackend("wasm") returned false', fix: 'Reinstall dependencies (npm ci), or use --engine ort' });
  }
  await tf.ready();
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  // Node has no wasm threads for tfjs: the backend runs on one thread whatever EngineOptions.threads says.
  return { tf, backend: 'wasm', device: `tfjs ${tf.version_core} wasm (${simd ? 'SIMD, ' : ''}1 thread)`, deviceKind: 'cpu' };
}

/** The native packages a device may use, in order of preference. */
const PACKAGES_FOR: Record<Exclude<DeviceName, 'webgpu'>, readonly string[]> = {
  auto: NODE_PACKAGES,
  cuda: ['@tensorflow/tfjs-node-gpu'],
  cpu: ['@tensorflow/tfjs-node'],
};

/**
 * The backend for `device` (see the file comment). `choice` pins it (tests pin 'wasm'): 'node'
 * requires a native package, 'wasm' the WebAssembly backend.
 */
export async function loadTfRuntime(choice: TfjsBackendChoice = 'auto', device: DeviceName = 'auto'): Promise<TfRuntime> {
  if (device === 'webgpu') {
    throw userError({
      where: 'device "webgpu" (tfjs engine)',
      expected: 'a tfjs backend on WebGPU',
      received: "none in Node: tfjs's WebGPU backend needs a browser's navigator.gpu",
      fix: 'Use the onnxruntime engine on WebGPU (--engine ort --device webgpu; `engine: ort` in the config), or --device cpu',
    });
  }
  if (choice === 'wasm' && device === 'cuda') {
    throw userError({ where: 'device "cuda" (tfjs engine)', expected: 'a native tfjs backend', received: 'the WebAssembly backend, which runs on the CPU', fix: 'Use --device cpu with the wasm backend' });
  }
  if (choice === 'wasm') return loadWasm();
  const native = await loadNative(PACKAGES_FOR[device]);
  if (native.runtime) {
    if (device === 'auto') native.runtime.selection = `device auto (tfjs): ${native.runtime.device}${native.problems.length ? ` (${native.problems.join('; ')})` : ''}`;
    return native.runtime;
  }
  if (choice === 'node' || device === 'cuda') {
    throw userError({
      where: device === 'cuda' ? 'device "cuda" (tfjs engine)' : 'tfjs engine',
      expected: device === 'cuda' ? 'the TensorFlow.js GPU backend (@tensorflow/tfjs-node-gpu)' : 'the native TensorFlow.js backend',
      received: native.problems.join('; '),
      fix:
        device === 'cuda'
          ? 'Install @tensorflow/tfjs-node-gpu (CUDA 11.2, cuDNN 8.1) at the version of @tensorflow/tfjs, or use the onnxruntime engine (--engine ort --device cuda or webgpu)'
          : 'Install @tensorflow/tfjs-node (or -node-gpu with CUDA 11.2 / cuDNN 8.1) at the same version as @tensorflow/tfjs, or use the wasm backend',
    });
  }
  const broken = native.problems.filter((p) => !p.endsWith('is not installed'));
  if (broken.length) {
    process.emitWarning(`falling back to the tfjs wasm backend: ${broken.join('; ')}. Reinstall the package or remove it to silence this.`, 'FilterAtlasWarning');
  }
  const wasm = await loadWasm();
  return device === 'auto' ? { ...wasm, selection: `device auto (tfjs): cpu, ${wasm.device} (${native.problems.join('; ')})` } : wasm;
}
