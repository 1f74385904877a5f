/**
 * The bench's models: VGG16-BN with generated weights (the real ones are a 554 MB download;
 * speed does not depend on the values) written as safetensors to a temporary folder and read
 * back through the product's loader, the built-in darknet-tiny, and torchvision classifiers
 * exported to ONNX by PyTorch (bench/torchvision_step.py) and read through the ONNX loader.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CnnModel, Tensor } from '../pipeline/model/graph.js';
import { loadModel } from '../pipeline/model/load.js';
import { writeSafetensors } from '../pipeline/model/safetensors.js';
import { vggStateDictShapes } from '../pipeline/model/vgg.js';
import { createRandom } from '../pipeline/util/random.js';
import { exportTorchvision } from './pytorch.js';

/** Seeded weights of the real keys and shapes; BN statistics away from identity so BN does real work. */
export async function generatedVgg16Bn(seed = 16): Promise<CnnModel> {
  const random = createRandom(seed);
  const tensors = vggStateDictShapes('vgg16_bn').map(([key, shape]): [string, Tensor] => {
    const count = shape.reduce((a, b) => a * b, 1);
    const field = key.slice(key.lastIndexOf('.') + 1);
    const [lo, hi] =
      shape.length === 4
        ? [-Math.sqrt(6 / (shape[1] * shape[2] * shape[3])), Math.sqrt(6 / (shape[1] * shape[2] * shape[3]))]
        : ({ running_var: [0.5, 2], running_mean: [-0.2, 0.2], bias: [-0.1, 0.1] } as Record<string, [number, number]>)[field] ?? [0.5, 1.5];
    const data = new Float32Array(count);
    for (let i = 0; i < count; i++) data[i] = lo + (hi - lo) * random.next();
    return [key, { shape, data }];
  });
  const folder = await mkdtemp(join(tmpdir(), 'filter-atlas-bench-'));
  try {
    const path = join(folder, 'vgg16_bn-generated.safetensors');
    await writeSafetensors(path, tensors);
    return await loadModel(path, { arch: 'vgg16_bn' });
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}

export const darknetTiny = (): Promise<CnnModel> => loadModel('darknet-tiny');

/** A torchvision classifier through its ONNX export, made in a temporary folder. */
export async function torchvisionModel(arch: string): Promise<CnnModel> {
  const folder = await mkdtemp(join(tmpdir(), 'filter-atlas-bench-'));
  try {
    const path = join(folder, `${arch}.onnx`);
    await exportTorchvision(arch, path);
    return await loadModel(path);
  } finally {
    await rm(folder, { recursive: true, force: true });
  }
}
