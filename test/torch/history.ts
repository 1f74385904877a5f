/**
 * Four ONNX checkpoints of a resnet18 fine-tune in which only layer4 and fc train (test/torch/history.py),
 * generated once per version of the script and of PyTorch into the test cache
 * (<cache>/torch-history/<key>, as fixtures.ts keeps its references) and reused.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { cachedTorchOutput } from './fixtures.js';

const SCRIPT = resolve(import.meta.dirname, 'history.py');

export interface ResnetCheckpoints {
  dir: string;
  torch: string;
  size: number;
  frozen: string[];
  trained: string[];
  versions: Array<{ version: number; onnx: string; steps: number; loss: number | null }>;
}

/** The checkpoints (absolute `onnx` paths), or undefined when torch is missing outside CI. */
export async function resnetCheckpoints(datasetDir: string): Promise<ResnetCheckpoints | undefined> {
  const output = await cachedTorchOutput(SCRIPT, 'torch-history', 'the resnet18 checkpoints', [datasetDir]);
  if (!output) return undefined;
  const manifest = JSON.parse(await readFile(join(output.dir, 'manifest.json'), 'utf8')) as Omit<ResnetCheckpoints, 'dir'>;
  return { ...manifest, dir: output.dir, versions: manifest.versions.map((v) => ({ ...v, onnx: join(output.dir, v.onnx) })) };
}
