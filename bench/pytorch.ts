/**
 * The PyTorch reference step (../shared/reference/torch_step.py: VGG16-BN to ReLU 42, forward +
 * input gradient, 2 threads) run by Debian's /usr/bin/python3 in a child process. The bench
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

/** VGG16-BN step at one size and batch; torch_step.py times 5 steps after 1 warm-up and prints the median. */
export function pytorchVggCase(reference: PytorchReference, size: number, batch: number): BenchCase {
  return {
    engine: 'pytorch',
    model: 'vgg16_bn',
    layer: '42',
    size,
    batch,
    async measure() {
      const { stdout } = await run(PYTHON, ['torch_step.py', '--size', String(size), '--batch', String(batch)], {
        cwd: reference.folder,
        timeout: 300_000,
      });
      const match = /seconds_per_step=([\d.]+)\s*$/.exec(stdout.trim());
      if (!match) return { skip: `torch_step.py printed no seconds_per_step: ${JSON.stringify(stdout.slice(-200))}` };
      return { secondsPerStep: Number(match[1]), steps: 5, device: reference.device };
    },
  };
}
