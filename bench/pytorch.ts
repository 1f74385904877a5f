/**
 * The PyTorch reference steps, run by Debian's /usr/bin/python3 in a child process (2 threads):
 * VGG16-BN to ReLU 42 (../shared/reference/torch_step.py) and torchvision classifiers to a module
 * (bench/torchvision_step.py, which also writes their ONNX exports for our engines). The bench
 * installs nothing: without torch or the reference folder, these rows are skipped with a message.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { BenchCase } from './runner.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';

export interface PytorchReference {
  folder: string;
  /** e.g. "PyTorch 1.13.0a0 cpu, 2 threads" */
  device: string;
}

/** The reference when torch imports and the folder holds torch_step.py, else why not. */
export async function findPytorch(folder: string): Promise<PytorchReference | { missing: string }> {
  if (!existsSync(join(folder, 'torch_step.py'))) return { missing: `no ${join(folder, 'torch_step.py')} (the shared reference folder beside the repository)` };
  try {
    const { stdout } = await run(PYTHON, ['-c', 'import torch; print(torch.__version__)'], { timeout: 60_000 });
    return { folder, device: `PyTorch ${stdout.trim()} cpu, 2 threads` };
  } catch {
    return { missing: `${PYTHON} cannot import torch (apt-get install python3-torch)` };
  }
}

/** Runs a step script; it times 5 steps after 1 warm-up and prints the median last. */
async function timeScript(script: string, args: string[], cwd: string, device: string): Promise<{ secondsPerStep: number; steps: number; device: string } | { skip: string }> {
  const { stdout } = await run(PYTHON, [script, ...args], { cwd, timeout: 300_000 });
  const match = /seconds_per_step=([\d.]+)\s*$/.exec(stdout.trim());
  if (!match) return { skip: `${script} printed no seconds_per_step: ${JSON.stringify(stdout.slice(-200))}` };
  return { secondsPerStep: Number(match[1]), steps: 5, device };
}

/** VGG16-BN step at one size and batch. */
export function pytorchVggCase(reference: PytorchReference, size: number, batch: number): BenchCase {
  return {
    engine: 'pytorch',
    model: 'vgg16_bn',
    layer: '42',
    size,
    batch,
    measure: () => timeScript('torch_step.py', ['--size', String(size), '--batch', String(batch)], reference.folder, reference.device),
  };
}

const TORCHVISION_SCRIPT = join(import.meta.dirname, 'torchvision_step.py');

/** Whether torchvision imports (the ONNX exports and steps of resnet50, efficientnet_b0, ...), else why not. */
export async function findTorchvision(): Promise<{ device: string } | { missing: string }> {
  try {
    const { stdout } = await run(PYTHON, ['-c', 'import torch, torchvision; print(torch.__version__)'], { timeout: 60_000 });
    return { device: `PyTorch ${stdout.trim()} cpu, 2 threads` };
  } catch {
    return { missing: `${PYTHON} cannot import torchvision (apt-get install python3-torchvision)` };
  }
}

/** A torchvision classifier's ONNX export (224 px, opset 17, torchvision's seeded initialisation). */
export async function exportTorchvision(arch: string, path: string): Promise<void> {
  await run(PYTHON, [TORCHVISION_SCRIPT, '--arch', arch, '--export', path], { timeout: 300_000, env: { ...process.env, PYTHONWARNINGS: 'ignore' } });
}

/** PyTorch's step on a torchvision classifier, to the module `layer`. */
export function pytorchTorchvisionCase(device: string, arch: string, layer: string, size: number, batch: number): BenchCase {
  return {
    engine: 'pytorch',
    model: arch,
    layer,
    size,
    batch,
    measure: () => timeScript(TORCHVISION_SCRIPT, ['--arch', arch, '--layer', layer, '--size', String(size), '--batch', String(batch)], import.meta.dirname, device),
  };
}
