/**
 * What a Linux machine offers ONNX Runtime's WebGPU provider, which runs on Dawn over Vulkan: GPU
 * device nodes, the Vulkan loader (libvulkan.so.1) and Vulkan drivers (ICD files). ONNX Runtime
 * reports every failure the same way ("Failed to get a WebGPU adapter: No supported adapters",
 * measured with the loader missing, with no driver and with only Mesa's lavapipe), so the error
 * names what is missing from these facts instead.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The few file-system calls the facts need (tests pass a fake machine). */
export interface MachineFs {
  exists(file: string): boolean;
  list(dir: string): string[];
  read(file: string): string;
}

export const realFs: MachineFs = {
  exists: existsSync,
  list: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  read: (file) => readFileSync(file, 'utf8'),
};

export interface VulkanDriver {
  /** The ICD file's name, e.g. nvidia_icd.json. */
  file: string;
  library: string;
  /** A CPU implementation (Mesa lavapipe, SwiftShader): Dawn refuses lavapipe and runs on SwiftShader, far slower than the CPU provider. */
  software: boolean;
}

export interface GpuFacts {
  /** GPU device nodes: /dev/nvidia0, /dev/dri/renderD128, /dev/dxg (WSL). */
  devices: string[];
  /** Where libvulkan.so.1 was found, if anywhere. */
  loader?: string;
  drivers: VulkanDriver[];
}

const LIBRARY_DIRS: Record<string, string[]> = {
  x64: ['/usr/lib/x86_64-linux-gnu', '/lib/x86_64-linux-gnu', '/usr/lib64', '/lib64'],
  arm64: ['/usr/lib/aarch64-linux-gnu', '/lib/aarch64-linux-gnu', '/usr/lib64', '/lib64'],
};

/** The ICD folders the Vulkan loader reads, in its order (VK_DRIVER_FILES / VK_ICD_FILENAMES replace them). */
function icdFiles(env: NodeJS.ProcessEnv, fs: MachineFs): string[] {
  const override = env.VK_DRIVER_FILES || env.VK_ICD_FILENAMES;
  if (override) return override.split(':').filter(Boolean);
  const home = os.homedir();
  const dirs = [
    path.join(env.XDG_CONFIG_HOME || path.join(home, '.config'), 'vulkan/icd.d'),
    '/etc/xdg/vulkan/icd.d',
    '/etc/vulkan/icd.d',
    path.join(env.XDG_DATA_HOME || path.join(home, '.local/share'), 'vulkan/icd.d'),
    '/usr/local/share/vulkan/icd.d',
    '/usr/share/vulkan/icd.d',
  ];
  return dirs.flatMap((dir) => fs.list(dir).filter((f) => f.endsWith('.json')).map((f) => path.join(dir, f)));
}

function readDriver(file: string, fs: MachineFs): VulkanDriver | undefined {
  try {
    const library = String((JSON.parse(fs.read(file)) as { ICD?: { library_path?: unknown } }).ICD?.library_path ?? '');
    return { file: path.basename(file), library, software: /lvp|swiftshader|llvmpipe/i.test(`${file} ${library}`) };
  } catch {
    return undefined;
  }
}

export function gpuFacts(env: NodeJS.ProcessEnv = process.env, fs: MachineFs = realFs): GpuFacts {
  const devices = [
    ...fs.list('/dev').filter((f) => /^nvidia\d+$/.test(f) || f === 'dxg').map((f) => `/dev/${f}`),
    ...fs.list('/dev/dri').filter((f) => f.startsWith('renderD')).map((f) => `/dev/dri/${f}`),
  ];
  const libraryDirs = [...(env.LD_LIBRARY_PATH ?? '').split(':').filter(Boolean), ...(LIBRARY_DIRS[process.arch] ?? []), '/usr/lib', '/lib', '/usr/local/lib'];
  const loader = libraryDirs.map((dir) => path.join(dir, 'libvulkan.so.1')).find((file) => fs.exists(file));
  const drivers = icdFiles(env, fs).flatMap((file) => readDriver(file, fs) ?? []);
  return { devices, ...(loader ? { loader } : {}), drivers };
}

/** One sentence: what stands between this machine and a WebGPU adapter (or that nothing visible does). */
export function describeGpuFacts(facts: GpuFacts): string {
  const hardware = facts.drivers.filter((d) => !d.software);
  const software = facts.drivers.filter((d) => d.software);
  const parts: string[] = [];
  parts.push(facts.devices.length ? `GPU devices ${facts.devices.join(', ')}` : 'no GPU device (no /dev/nvidia*, /dev/dri/renderD* or /dev/dxg)');
  parts.push(facts.loader ? `Vulkan loader ${facts.loader}` : 'no Vulkan loader (libvulkan.so.1)');
  if (hardware.length) parts.push(`GPU Vulkan drivers ${hardware.map((d) => d.file).join(', ')}`);
  else parts.push(facts.devices.some((d) => d.includes('nvidia')) ? "no Vulkan driver for the GPU (NVIDIA's is libGLX_nvidia.so.0 with nvidia_icd.json)" : 'no GPU Vulkan driver');
  if (software.length) parts.push(`CPU Vulkan drivers ${software.map((d) => d.file).join(', ')} (Mesa lavapipe or SwiftShader: CPU emulation; Dawn refuses lavapipe and runs on SwiftShader, about 100x slower than the cpu provider)`);
  return parts.join('; ');
}
