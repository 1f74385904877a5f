/**
 * loadModel: one entry point from a model spec (built-in name or path) to the CnnModel.
 * Exactly one loader handles a spec; zero matches is an error that lists what would work.
 */
import { stat } from 'node:fs/promises';
import { basename, extname, join, resolve } from 'node:path';
import { FilterAtlasError, describeValue, userError } from '../errors.js';
import { BUILTIN_MODELS, findBuiltin, vgg16NeedsFile } from './builtins.js';
import { modelFromSafetensors, modelFromTfjs } from './from-file.js';
import type { CnnModel, Preprocessing } from './graph.js';
import { VGG_ARCHS, isVggArch, type VggArch } from './vgg.js';

export interface LoadModelOptions {
  /** Architecture of a `.safetensors` state dict (required for those files). */
  arch?: VggArch;
  signal?: AbortSignal;
  /** Overrides of the model's preprocessing (mean/std, input size, resize), e.g. for a user ONNX model. */
  preprocessing?: Partial<Preprocessing>;
}

const builtinList = () => BUILTIN_MODELS.map((m) => m.name).join(', ');

async function loadBuiltin(name: string, options: LoadModelOptions): Promise<CnnModel> {
  const builtin = findBuiltin(name)!;
  if (!builtin.asset) throw vgg16NeedsFile();
  const { ensureAsset } = await import('../assets/index.js');
  let folder: string;
  try {
    folder = await ensureAsset(builtin.asset, { signal: options.signal });
  } catch (error) {
    if (builtin.name !== 'vgg16_bn' || !(error instanceof FilterAtlasError)) throw error;
    throw userError(
      {
        where: 'model "vgg16_bn"',
        expected: 'its ImageNet weights, downloaded once (554 MB) from huggingface.co (timm/vgg16_bn.tv_in1k) into the cache',
        received: `a failed download: ${error.message.replace(/\.+$/, '')}`,
        fix: 'Without internet, save torchvision vgg16_bn weights as safetensors (safetensors.torch.save_file(torchvision.models.vgg16_bn(weights="DEFAULT").state_dict(), "vgg16_bn.safetensors")) and pass the file: filter-atlas layers vgg16_bn.safetensors --arch vgg16_bn',
      },
      error,
    );
  }
  return builtin.load(folder, { signal: options.signal, preprocessing: options.preprocessing });
}

/** The folder's model.json, or undefined. */
async function modelJsonIn(folder: string): Promise<string | undefined> {
  const candidate = join(folder, 'model.json');
  return (await stat(candidate).catch(() => undefined))?.isFile() ? candidate : undefined;
}

/**
 * A built-in name (`darknet-tiny`, `mobilenet-v1-0.25`, `vgg16_bn`), or a path to an `.onnx` file,
 * a TensorFlow.js `model.json` (or a folder holding one), or a `.safetensors` state dict with `arch`.
 */
export async function loadModel(spec: string, options: LoadModelOptions = {}): Promise<CnnModel> {
  options.signal?.throwIfAborted();
  if (options.arch !== undefined && !isVggArch(options.arch)) {
    throw userError({ where: '--arch', expected: `one of ${VGG_ARCHS.join(', ')}`, received: describeValue(options.arch) });
  }
  if (findBuiltin(spec)) return loadBuiltin(spec, options);

  const path = resolve(spec);
  const info = await stat(path).catch(() => undefined);
  if (!info) {
    throw userError({
      where: `model ${JSON.stringify(spec)}`,
      expected: `a built-in model (${builtinList()}) or the path of a .onnx, model.json or .safetensors file`,
      received: 'no such model or file',
      fix: 'Run `filter-atlas models` to list the built-in models.',
    });
  }
  const overrides = { signal: options.signal, preprocessing: options.preprocessing };
  if (info.isDirectory()) {
    const modelJson = await modelJsonIn(path);
    if (modelJson) return modelFromTfjs(modelJson, overrides);
    throw userError({ where: path, expected: 'a folder holding a TensorFlow.js model.json', received: 'a folder without model.json' });
  }
  const extension = extname(path).toLowerCase();
  if (extension === '.onnx') return (await import('./onnx-import.js')).modelFromOnnx(path, overrides);
  if (extension === '.json') return modelFromTfjs(path, overrides);
  if (extension === '.safetensors') {
    if (!options.arch) {
      throw userError({
        where: basename(path),
        expected: `--arch for a safetensors state dict (one of ${VGG_ARCHS.join(', ')})`,
        received: 'no architecture',
        fix: `A state dict holds weights only; say which network they belong to, e.g. --arch vgg16_bn.`,
      });
    }
    return modelFromSafetensors(path, options.arch, overrides);
  }
  throw userError({
    where: path,
    expected: 'a .onnx file, a TensorFlow.js model.json (or its folder) or a .safetensors file with --arch',
    received: `a ${extension || 'extension-less'} file`,
    fix: `Built-in models: ${builtinList()}.`,
  });
}
