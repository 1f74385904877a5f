/**
 * A vgg16_bn state dict with seeded random weights of the real keys and shapes (the real
 * ImageNet weights cannot be downloaded here), written as safetensors and loaded through
 * the product's own loader. Scales keep activations O(1) through all 13 conv layers.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CnnModel, Tensor } from '../../../pipeline/model/graph.js';
import { modelFromSafetensors } from '../../../pipeline/model/from-file.js';
import { writeSafetensors } from '../../../pipeline/model/safetensors.js';
import { vggStateDictShapes } from '../../../pipeline/model/vgg.js';
import { seededRandom, uniform } from './graphs.js';

function randomTensor(random: () => number, key: string, shape: number[]): Tensor {
  const count = shape.reduce((a, b) => a * b, 1);
  const field = key.slice(key.lastIndexOf('.') + 1);
  if (shape.length === 4) {
    const limit = Math.sqrt(6 / (shape[1] * shape[2] * shape[3]));
    return { shape, data: uniform(random, count, -limit, limit) };
  }
  const ranges: Record<string, [number, number]> = { running_var: [0.5, 2], running_mean: [-0.2, 0.2], bias: [-0.1, 0.1] };
  // BN weight (gamma) and everything else 1-D: around 1.
  const [lo, hi] = ranges[field] ?? [0.5, 1.5];
  return { shape, data: uniform(random, count, lo, hi) };
}

/** Writes the file into a temporary folder, loads it, removes the folder. */
export async function randomVgg16Bn(seed = 16): Promise<CnnModel> {
  const random = seededRandom(seed);
  const tensors = vggStateDictShapes('vgg16_bn').map(([key, shape]): [string, Tensor] => [key, randomTensor(random, key, shape)]);
  const folder = await mkdtemp(join(tmpdir(), 'filter-atlas-vgg-'));
  try {
    const path = join(folder, 'vgg16_bn-random.safetensors');
    await writeSafetensors(path, tensors);
    return await modelFromSafetensors(path, 'vgg16_bn');
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
