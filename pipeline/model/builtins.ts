/**
 * The built-in models: where their files come from (a named asset), their preprocessing,
 * labels and a one-line description. Loading goes through the same loaders as user files.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { userError } from '../errors.js';
import type { AssetName } from '../assets/index.js';
import { modelFromSafetensors, modelFromTfjs, IMAGENET_MEAN, IMAGENET_STD, type ModelOverrides } from './from-file.js';
import type { CnnModel, Pair, Preprocessing } from './graph.js';
import { loadImagenetClasses } from './imagenet.js';

export type BuiltinName = 'darknet-tiny' | 'mobilenet-v1-0.25' | 'vgg16_bn' | 'vgg16';

export interface BuiltinModel {
  name: BuiltinName;
  description: string;
  /** The asset holding the weights; undefined when the user supplies the file (`--arch`). */
  asset?: AssetName;
  format: CnnModel['source']['format'];
  inputSize: Pair;
  classes: number;
  /** Builds the model from the asset's local folder; `preprocessing` fields replace the model's own. */
  load(folder: string, options?: Pick<ModelOverrides, 'preprocessing' | 'signal'>): Promise<CnnModel>;
}

async function lines(path: string, count: number): Promise<string[]> {
  const all = (await readFile(path, 'utf8')).split('\n').map((l) => l.trim());
  const list = all.slice(0, count);
  if (list.length !== count || list.some((l) => l === '')) {
    throw userError({ where: path, expected: `${count} non-empty lines`, received: `${all.filter((l) => l).length}`, fix: 'Fetch the asset again (filter-atlas fetch).' });
  }
  return list;
}

/**
 * Resize choice per model ('center-crop' = short side to 224, then the centre 224x224), the
 * better top-1 on the 1000-image ImageNet sample (ORT engine, sharp cubic resize):
 * darknet-tiny 65.8 % crop vs 61.0 % stretched (PyTorch reference: 65.3 / 59.3 %);
 * mobilenet-v1-0.25 58.7 % crop vs 55.8 % stretched. VGG is evaluated on centre crops upstream.
 */
const darknet: Preprocessing = { inputSize: [224, 224], mean: [0, 0, 0], std: [1, 1, 1], resize: 'center-crop' };
const mobilenet: Preprocessing = { inputSize: [224, 224], mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], resize: 'center-crop' };
const imagenet: Preprocessing = { inputSize: [224, 224], mean: IMAGENET_MEAN, std: IMAGENET_STD, resize: 'center-crop' };

export const BUILTIN_MODELS: readonly BuiltinModel[] = [
  {
    name: 'darknet-tiny',
    description: 'Darknet "Tiny" ImageNet classifier (16 convs, BN, LeakyReLU); conv2d_16 filters are the 1000 class detectors',
    asset: 'darknet-tiny',
    format: 'tfjs-layers',
    inputSize: [224, 224],
    classes: 1000,
    async load(folder, options = {}) {
      return modelFromTfjs(join(folder, 'model.json'), {
        name: 'darknet-tiny',
        version: 'ml5 darknettiny @0612a3e',
        preprocessing: { ...darknet, ...options.preprocessing },
        // darknet's own class order (imagenet.shortnames.list / imagenet.labels.list, first 1000 lines).
        labels: await lines(join(folder, 'imagenet1k_darknet_names.txt'), 1000),
        labelWnids: await lines(join(folder, 'imagenet1k_darknet_wnids.txt'), 1000),
        signal: options.signal,
      });
    },
  },
  {
    name: 'mobilenet-v1-0.25',
    description: 'Keras MobileNet v1 (alpha 0.25) ImageNet classifier with depthwise convs and ReLU6',
    asset: 'mobilenet-v1-0.25',
    format: 'tfjs-layers',
    inputSize: [224, 224],
    classes: 1000,
    async load(folder, options = {}) {
      const labels: unknown = JSON.parse(await readFile(join(folder, 'imagenet_classes_tfjs.json'), 'utf8'));
      if (!Array.isArray(labels) || labels.length !== 1000 || !labels.every((l) => typeof l === 'string')) {
        throw userError({ where: join(folder, 'imagenet_classes_tfjs.json'), expected: 'an array of 1000 class names', received: Array.isArray(labels) ? `${labels.length} entries` : typeof labels });
      }
      return modelFromTfjs(join(folder, 'model.json'), {
        name: 'mobilenet-v1-0.25',
        version: 'tfjs mobilenet_v1_0.25_224',
        preprocessing: { ...mobilenet, ...options.preprocessing },
        labels,
        labelWnids: (await loadImagenetClasses()).wnids,
        signal: options.signal,
      });
    },
  },
  {
    name: 'vgg16_bn',
    description: "torchvision VGG-16 with BatchNorm, the article's model (ImageNet weights, 554 MB download)",
    asset: 'vgg16_bn',
    format: 'safetensors',
    inputSize: [224, 224],
    classes: 1000,
    load: (folder, options = {}) =>
      modelFromSafetensors(join(folder, 'model.safetensors'), 'vgg16_bn', {
        name: 'vgg16_bn',
        version: 'torchvision vgg16_bn (timm tv_in1k)',
        preprocessing: { ...imagenet, ...options.preprocessing },
        signal: options.signal,
      }),
  },
  {
    name: 'vgg16',
    description: 'torchvision VGG-16 without BatchNorm: architecture only, pass the weights: <file>.safetensors --arch vgg16',
    format: 'safetensors',
    inputSize: [224, 224],
    classes: 1000,
    load: () => Promise.reject(vgg16NeedsFile()),
  },
];

export function vgg16NeedsFile(): Error {
  return userError({
    where: 'model "vgg16"',
    expected: 'a weights file: filter-atlas does not download VGG-16 without BatchNorm',
    received: 'the bare architecture name',
    fix: 'Save torchvision vgg16 weights as safetensors (safetensors.torch.save_file(model.state_dict(), "vgg16.safetensors")) and pass the file: filter-atlas layers vgg16.safetensors --arch vgg16',
  });
}

export const builtinNames = (): string[] => BUILTIN_MODELS.map((m) => m.name);

export function findBuiltin(name: string): BuiltinModel | undefined {
  return BUILTIN_MODELS.find((m) => m.name === name);
}
