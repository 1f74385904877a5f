/**
 * The execution provider the onnxruntime engine runs on, from the `device` asked for:
 * - `cpu`: always there;
 * - `cuda`: onnxruntime-node's CUDA provider, a separate download (package.json's allowScripts skips
 *   it) that needs an NVIDIA driver, CUDA 12 and cuDNN 9;
 * - `webgpu`: ONNX Runtime's WebGPU provider (Dawn over Vulkan), inside the linux-x64 binary of
 *   onnxruntime-node 1.30; it needs a GPU with a Vulkan driver and the Vulkan loader;
 * - `auto`: cuda, then webgpu, then cpu, with one line saying what was chosen and why the others
 *   were skipped. A device named explicitly that cannot start is an error saying what is missing.
 * Whether a provider starts is found out with a one-node session, so a missing driver fails here,
 * not in the middle of a build.
 */
import { mkdtempSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { userError, type ErrorParts } from '../../errors.js';
import type { DeviceKind } from '../engine.js';
import type { DeviceName } from '../../schema/device.js';
import { OnnxGraphBuilder } from './onnx-builder.js';
import { describeGpuFacts, gpuFacts, realFs, type GpuFacts } from './vulkan.js';

export type Provider = DeviceKind;
type Ort = typeof import('onnxruntime-node');
type ExecutionProvider = import('onnxruntime-node').InferenceSession.ExecutionProviderConfig;

export interface ProviderChoice {
  provider: Provider;
  /** For `auto`, and for a webgpu that runs on a CPU-emulated adapter: the one-line notice (see EngineInfo.selection). */
  selection?: string;
}

/** Why a provider cannot run here: a short reason for auto's notice, the parts of an explicit device's error. */
type Refusal = { reason: string } & Omit<ErrorParts, 'where'>;

/** What the tests and the engine may replace: the machine's GPU facts, and the environment Dawn reads. */
export interface ProviderProbeDeps {
  facts(): GpuFacts;
  /** Where Dawn's XDG_RUNTIME_DIR is set when missing (default process.env). */
  env?: NodeJS.ProcessEnv;
}

const realDeps: ProviderProbeDeps = { facts: () => gpuFacts(), env: process.env };

/** True when every Vulkan driver the loader would use emulates a GPU on the CPU (SwiftShader, lavapipe). */
export function softwareOnly(facts: GpuFacts | undefined): boolean {
  return facts !== undefined && facts.drivers.length > 0 && facts.drivers.every((d) => d.software);
}

/**
 * Dawn prints "error: XDG_RUNTIME_DIR is invalid or not set in the environment." (twice) when the
 * variable is missing, as in containers and CI; it only wants a private writable folder, so one is
 * made for this process before Dawn starts. A variable that is set is left alone.
 */
function quietDawn(env: NodeJS.ProcessEnv): void {
  if (env.XDG_RUNTIME_DIR) return;
  env.XDG_RUNTIME_DIR = mkdtempSync(path.join(os.tmpdir(), 'filter-atlas-xdg-'));
}

/** The provider's entry in executionProviders (CPU nodes need no entry: ONNX Runtime adds the CPU provider). */
export function providerEntry(provider: Provider, forceCpuNodeNames: readonly string[] = []): ExecutionProvider {
  if (provider === 'cuda') return { name: 'cuda', deviceId: 0 };
  if (provider === 'webgpu') return forceCpuNodeNames.length ? { name: 'webgpu', forceCpuNodeNames: [...forceCpuNodeNames] } : { name: 'webgpu' };
  return 'cpu';
}

/** A one-node model: whether a provider can create sessions at all, cheaply. */
function probeModel(): Uint8Array {
  const builder = new OnnxGraphBuilder();
  const x = builder.input('x', [1]);
  builder.output(builder.op('Relu', [x], 'y'), [1]);
  return builder.encode('provider probe');
}

/** ONNX Runtime's error without its source-file prefix: "Failed to get a WebGPU adapter: ..." rather than "/onnxruntime_src/...cc:136 ...". */
export function nativeMessage(error: unknown): string {
  const text = (error instanceof Error ? error.message : String(error)).trim();
  const known = /(Failed to get a WebGPU adapter.*|Failed to load .*|CUDA failure.*|cannot open shared object file.*)/.exec(text);
  return (known ? known[1] : text.split('\n')[0]).trim();
}

async function starts(ort: Ort, provider: Provider): Promise<string | undefined> {
  try {
    // Severity 4: the probe's own failure is reported by us, not as a native log line.
    const session = await ort.InferenceSession.create(probeModel(), { executionProviders: [providerEntry(provider)], logSeverityLevel: 4 });
    await session.release();
    return undefined;
  } catch (error) {
    return nativeMessage(error);
  }
}

/**
 * Whether the CUDA provider library sits next to the native binding. onnxruntime-node's postinstall
 * downloads it (skipped by package.json's allowScripts); without it, trying CUDA only prints a
 * native "cannot open shared object file" error.
 */
function cudaProviderInstalled(): boolean {
  try {
    const root = path.dirname(createRequire(import.meta.url).resolve('onnxruntime-node/package.json'));
    return realFs.list(path.join(root, 'bin', 'napi-v6', process.platform, process.arch)).some((file) => file.includes('providers_cuda'));
  } catch {
    return false;
  }
}

/** The way out of an explicit device that cannot start. */
const orElse = (others: string): string => `Or use another device: --device ${others} (the config's \`device:\`)`;

async function checkCuda(ort: Ort): Promise<Refusal | undefined> {
  const expected = "onnxruntime-node's CUDA execution provider";
  if (!ort.listSupportedBackends().some((b) => b.name === 'cuda')) {
    return { reason: `this onnxruntime-node build (${process.platform}-${process.arch}) has no CUDA provider`, expected, received: `none in the ${process.platform}-${process.arch} build`, fix: orElse('webgpu or cpu') };
  }
  if (!cudaProviderInstalled()) {
    return {
      reason: "onnxruntime-node's CUDA provider is not installed",
      expected,
      received: 'no libonnxruntime_providers_cuda.so beside the binding (its download is skipped at install)',
      fix: `On a machine with an NVIDIA driver, CUDA 12 and cuDNN 9: ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules/onnxruntime-node/script/install.js (README, GPU). ${orElse('webgpu or cpu')}`,
    };
  }
  const failure = await starts(ort, 'cuda');
  if (!failure) return undefined;
  return {
    reason: `the CUDA provider did not start (${failure})`,
    expected: 'the CUDA provider to start',
    received: failure,
    fix: `It needs an NVIDIA driver (check nvidia-smi) and the CUDA 12 and cuDNN 9 libraries where the loader finds them (LD_LIBRARY_PATH). ${orElse('webgpu or cpu')}`,
  };
}

async function checkWebgpu(ort: Ort, auto: boolean, deps: ProviderProbeDeps): Promise<Refusal | undefined> {
  const expected = 'a WebGPU adapter: a GPU with a Vulkan driver (the WebGPU provider runs on Dawn over Vulkan)';
  const fix = `Install the GPU's Vulkan driver (NVIDIA: the driver's Vulkan part with nvidia_icd.json; AMD, Intel: mesa-vulkan-drivers) and the Vulkan loader (Debian, Ubuntu: apt-get install libvulkan1); \`vulkaninfo --summary\` should list the GPU. ${orElse('cuda or cpu')}`;
  if (!ort.listSupportedBackends().some((b) => b.name === 'webgpu')) {
    return { reason: `this onnxruntime-node build (${process.platform}-${process.arch}) has no WebGPU provider`, expected, received: `no WebGPU provider in the ${process.platform}-${process.arch} build`, fix: orElse('cuda or cpu') };
  }
  const facts = process.platform === 'linux' ? deps.facts() : undefined;
  // auto does not try Dawn without a GPU: nothing to find, and Dawn prints its search to stderr.
  if (auto && facts && facts.devices.length === 0) return { reason: 'no GPU device (no /dev/nvidia*, /dev/dri/renderD* or /dev/dxg)', expected, received: 'no GPU device', fix };
  // Nor on a CPU-emulated adapter: its results are a GPU's, its speed about a hundredth of the CPU provider's.
  if (auto && softwareOnly(facts)) return { reason: `only CPU-emulated Vulkan drivers (${facts!.drivers.map((d) => d.file).join(', ')}): slower than the cpu provider`, expected, received: 'no GPU Vulkan driver', fix };
  quietDawn(deps.env ?? process.env);
  const failure = await starts(ort, 'webgpu');
  if (!failure) return undefined;
  const why = facts ? ` (${describeGpuFacts(facts)})` : '';
  return { reason: `no WebGPU adapter${why}`, expected, received: `${failure}${why}`, fix };
}

/** The provider for `device` (see the file comment); an explicit device that cannot start throws. */
export async function chooseProvider(ort: Ort, device: DeviceName, deps: ProviderProbeDeps = realDeps): Promise<ProviderChoice> {
  if (device === 'cpu') return { provider: 'cpu' };
  if (device === 'cuda' || device === 'webgpu') {
    const refusal = device === 'cuda' ? await checkCuda(ort) : await checkWebgpu(ort, false, deps);
    if (refusal) {
      const { reason: _reason, ...parts } = refusal;
      throw userError({ where: `device "${device}" (onnxruntime engine)`, ...parts });
    }
    if (device === 'webgpu' && process.platform === 'linux' && softwareOnly(deps.facts())) {
      return { provider: device, selection: 'device webgpu: a CPU-emulated adapter (SwiftShader or lavapipe): GPU kernels and results, but about 100x slower than --device cpu' };
    }
    return { provider: device };
  }
  if (device !== 'auto') {
    throw userError({ where: 'device', expected: '"auto", "cpu", "webgpu" or "cuda"', received: JSON.stringify(device) });
  }
  const skipped: string[] = [];
  for (const provider of ['cuda', 'webgpu'] as const) {
    const refusal = provider === 'cuda' ? await checkCuda(ort) : await checkWebgpu(ort, true, deps);
    if (!refusal) return { provider, selection: `device auto: ${provider}${skipped.length ? ` (${skipped.join('; ')})` : ''}` };
    skipped.push(`${provider} skipped: ${refusal.reason}`);
  }
  return { provider: 'cpu', selection: `device auto: cpu (${skipped.join('; ')})` };
}
