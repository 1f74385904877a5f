/**
 * Device selection on both engines, on this machine (no GPU; Mesa's lavapipe is the only Vulkan
 * driver when mesa-vulkan-drivers is installed, and Dawn rejects it) and on machines described by
 * fake GPU facts: auto falls back to the CPU with one line saying why, an explicitly named device
 * that cannot start is an error saying what is missing and how to install it, and the provider the
 * device resolved to is in the device string that every content key holds.
 */
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../pipeline/engine/create.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { chooseProvider, nativeMessage } from '../../pipeline/engine/ort/providers.js';
import { describeGpuFacts, gpuFacts, type MachineFs } from '../../pipeline/engine/ort/vulkan.js';
import { createTfjsEngine } from '../../pipeline/engine/tfjs/engine.js';
import { FilterAtlasError } from '../../pipeline/errors.js';
import { darknetLike } from './helpers/graphs.js';

const ort = createRequire(import.meta.url)('onnxruntime-node') as typeof import('onnxruntime-node');
const { model } = darknetLike();

/** A machine as a map of file -> content; a folder lists the files under it. */
function fakeFs(files: Record<string, string>): MachineFs {
  return {
    exists: (file) => file in files,
    list: (dir) => Object.keys(files).filter((f) => f.startsWith(`${dir}/`) && !f.slice(dir.length + 1).includes('/')).map((f) => f.slice(dir.length + 1)),
    read: (file) => {
      if (!(file in files)) throw new Error(`ENOENT ${file}`);
      return files[file];
    },
  };
}

const LAVAPIPE = { '/usr/share/vulkan/icd.d/lvp_icd.x86_64.json': JSON.stringify({ ICD: { library_path: '/usr/lib/x86_64-linux-gnu/libvulkan_lvp.so' } }) };
const LOADER = { '/usr/lib/x86_64-linux-gnu/libvulkan.so.1': '' };
const env = { HOME: '/root' };

describe('onnxruntime engine devices', () => {
  it('auto falls back to the CPU here and says why in one line', async () => {
    const engine = await createOrtEngine(model, { engine: 'ort', threads: 1 });
    try {
      expect(engine.info.selection).toMatch(/^device auto: cpu \(cuda skipped: .+; webgpu skipped: .+\)$/);
      expect(engine.info.selection).not.toContain('\n');
      expect(engine.info).toMatchObject({ deviceKind: 'cpu', device: expect.stringMatching(/^onnxruntime \S+ cpu, 1 thread$/) });
    } finally {
      await engine.dispose();
    }
  });

  it('an explicit cpu says nothing and runs on the cpu provider', async () => {
    const engine = await createEngine(model, { engine: 'ort', threads: 1, device: 'cpu' });
    try {
      expect(engine.info.selection).toBeUndefined();
      expect(engine.info.device).toMatch(/ cpu, 1 thread$/);
    } finally {
      await engine.dispose();
    }
  });

  it('an explicit webgpu without a usable adapter is an error naming what is missing and how to install it', async () => {
    // Here: no GPU, and lavapipe (when installed) lacks a feature Dawn requires; without libvulkan1
    // ONNX Runtime gives the same "Failed to get a WebGPU adapter" (checked with the loader hidden).
    const error = await createOrtEngine(model, { engine: 'ort', device: 'webgpu' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(FilterAtlasError);
    const message = (error as Error).message;
    expect(message).toMatch(/^device "webgpu" \(onnxruntime engine\): expected a WebGPU adapter: a GPU with a Vulkan driver .*, received Failed to get a WebGPU adapter: No supported adapters \(no GPU device/);
    expect(message).toContain('apt-get install libvulkan1');
    expect(message).toContain('Or use another device: --device cuda or cpu');
  });

  it('an explicit cuda without its provider files says how to install them', async () => {
    await expect(createOrtEngine(model, { engine: 'ort', device: 'cuda' })).rejects.toThrow(
      /^device "cuda" \(onnxruntime engine\): expected onnxruntime-node's CUDA execution provider, received no libonnxruntime_providers_cuda\.so beside the binding .*ONNXRUNTIME_NODE_INSTALL=cuda12 node node_modules\/onnxruntime-node\/script\/install\.js/,
    );
  });

  it('auto tries Dawn only where a GPU device exists, and reports what Vulkan lacks when it fails', async () => {
    const noGpu = await chooseProvider(ort, 'auto', { facts: () => ({ devices: [], drivers: [] }) });
    expect(noGpu.selection).toContain('webgpu skipped: no GPU device');
    // A GPU the container shows without its Vulkan driver (an NVIDIA container without graphics capability).
    const facts = { devices: ['/dev/nvidia0'], loader: '/usr/lib/x86_64-linux-gnu/libvulkan.so.1', drivers: [] };
    const tried = await chooseProvider(ort, 'auto', { facts: () => facts });
    expect(tried).toMatchObject({ provider: 'cpu' });
    expect(tried.selection).toMatch(/webgpu skipped: no WebGPU adapter \(GPU devices \/dev\/nvidia0; Vulkan loader \S+; no Vulkan driver for the GPU \(NVIDIA's is libGLX_nvidia\.so\.0 with nvidia_icd\.json\)\)\)$/);
  });

  it('auto never picks a CPU-emulated adapter, even beside a GPU device node, and says why', async () => {
    const swiftshader = { file: 'vk_swiftshader_icd.json', library: './libvk_swiftshader.so', software: true };
    const facts = { devices: ['/dev/dri/renderD128'], loader: '/usr/lib/x86_64-linux-gnu/libvulkan.so.1', drivers: [swiftshader] };
    const chosen = await chooseProvider(ort, 'auto', { facts: () => facts });
    expect(chosen).toMatchObject({ provider: 'cpu' });
    expect(chosen.selection).toContain('webgpu skipped: only CPU-emulated Vulkan drivers (vk_swiftshader_icd.json): slower than the cpu provider');
  });

  it("gives Dawn a private XDG_RUNTIME_DIR when there is none (else it prints an error twice), and keeps one that is set", async () => {
    const bare: NodeJS.ProcessEnv = {};
    await chooseProvider(ort, 'webgpu', { facts: () => ({ devices: [], drivers: [] }), env: bare }).catch(() => undefined);
    expect(bare.XDG_RUNTIME_DIR).toMatch(/filter-atlas-xdg-/);
    const set: NodeJS.ProcessEnv = { XDG_RUNTIME_DIR: '/run/user/1000' };
    await chooseProvider(ort, 'webgpu', { facts: () => ({ devices: [], drivers: [] }), env: set }).catch(() => undefined);
    expect(set.XDG_RUNTIME_DIR).toBe('/run/user/1000');
  });

  it("keeps ONNX Runtime's own words, without its source path", () => {
    const raw = '/onnxruntime_src/onnxruntime/core/providers/webgpu/webgpu_context.cc:136 lambda()> adapter_result.status == wgpu::RequestAdapterStatus::Success was false. Failed to get a WebGPU adapter: No supported adapters\n';
    expect(nativeMessage(new Error(raw))).toBe('Failed to get a WebGPU adapter: No supported adapters');
    expect(nativeMessage(new Error('something else\nmore'))).toBe('something else');
  });
});

describe('GPU facts (Linux)', () => {
  it('lavapipe alone is named as a CPU driver', () => {
    const facts = gpuFacts(env, fakeFs({ ...LOADER, ...LAVAPIPE }));
    expect(facts).toMatchObject({ devices: [], loader: '/usr/lib/x86_64-linux-gnu/libvulkan.so.1', drivers: [{ file: 'lvp_icd.x86_64.json', software: true }] });
    expect(describeGpuFacts(facts)).toBe(
      'no GPU device (no /dev/nvidia*, /dev/dri/renderD* or /dev/dxg); Vulkan loader /usr/lib/x86_64-linux-gnu/libvulkan.so.1; no GPU Vulkan driver; CPU Vulkan drivers lvp_icd.x86_64.json (Mesa lavapipe or SwiftShader: CPU emulation; Dawn refuses lavapipe and runs on SwiftShader, about 100x slower than the cpu provider)',
    );
  });

  it('a missing loader (no libvulkan1) is named', () => {
    expect(describeGpuFacts(gpuFacts(env, fakeFs({ '/dev/nvidia0': '', '/dev/dri/renderD128': '' })))).toBe(
      "GPU devices /dev/nvidia0, /dev/dri/renderD128; no Vulkan loader (libvulkan.so.1); no Vulkan driver for the GPU (NVIDIA's is libGLX_nvidia.so.0 with nvidia_icd.json)",
    );
  });

  it('finds the loader on LD_LIBRARY_PATH and drivers named by VK_ICD_FILENAMES (what the device check sets)', () => {
    const fs = fakeFs({ '/pack/vulkan/libvulkan.so.1': '', '/pack/nvidia_icd.json': JSON.stringify({ ICD: { library_path: 'libGLX_nvidia.so.0' } }), '/dev/nvidia0': '', ...LAVAPIPE });
    const facts = gpuFacts({ ...env, LD_LIBRARY_PATH: '/pack/vulkan', VK_ICD_FILENAMES: '/pack/nvidia_icd.json' }, fs);
    expect(facts).toEqual({ devices: ['/dev/nvidia0'], loader: '/pack/vulkan/libvulkan.so.1', drivers: [{ file: 'nvidia_icd.json', library: 'libGLX_nvidia.so.0', software: false }] });
    expect(describeGpuFacts(facts)).toBe('GPU devices /dev/nvidia0; Vulkan loader /pack/vulkan/libvulkan.so.1; GPU Vulkan drivers nvidia_icd.json');
  });
});

describe('tfjs engine devices', () => {
  it('webgpu is an error pointing at the onnxruntime engine (no navigator.gpu in Node)', async () => {
    await expect(createTfjsEngine(model, { engine: 'tfjs', device: 'webgpu' })).rejects.toThrow(
      `device "webgpu" (tfjs engine): expected a tfjs backend on WebGPU, received none in Node: tfjs's WebGPU backend needs a browser's navigator.gpu. Use the onnxruntime engine on WebGPU (--engine ort --device webgpu; \`engine: ort\` in the config), or --device cpu`,
    );
  });

  it('cuda needs @tensorflow/tfjs-node-gpu, which is not a dependency', async () => {
    await expect(createTfjsEngine(model, { engine: 'tfjs', device: 'cuda' })).rejects.toThrow(
      /^device "cuda" \(tfjs engine\): expected the TensorFlow.js GPU backend \(@tensorflow\/tfjs-node-gpu\), received @tensorflow\/tfjs-node-gpu is not installed/,
    );
  });

  it('auto says in one line that it runs WebAssembly on the CPU, and why', async () => {
    const engine = await createTfjsEngine(model, { engine: 'tfjs' });
    try {
      expect(engine.info).toMatchObject({ deviceKind: 'cpu', selection: expect.stringMatching(/^device auto \(tfjs\): cpu, tfjs \S+ wasm .*\(@tensorflow\/tfjs-node-gpu is not installed; @tensorflow\/tfjs-node is not installed\)$/) });
    } finally {
      await engine.dispose();
    }
  });
});
