/**
 * One CnnModel from one source file, whatever the format: the graph from the format's loader,
 * plus preprocessing, labels and the weights digest. Built-ins override name, labels and
 * preprocessing; user files get ImageNet normalisation unless told otherwise.
 */
import { basename, dirname } from 'node:path';
import { userError } from '../errors.js';
import { digestFiles } from './digest.js';
import type { CnnModel, Graph, Pair, Preprocessing } from './graph.js';
import { loadImagenetClasses } from './imagenet.js';
import { inferShapes } from './layers.js';
import { readSafetensors } from './safetensors.js';
import { DEFAULT_INPUT_SIZE, loadTfjsLayersGraph } from './tfjs-layers.js';
import { vggGraph, type VggArch } from './vgg.js';
import { readModelMetadata } from './metadata.js';

export const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

export interface ModelOverrides {
  name?: string;
  version?: string;
  /** Replaces fields of the default preprocessing (ImageNet mean/std, the source's input size or 224, center-crop). */
  preprocessing?: Partial<Preprocessing>;
  labels?: string[];
  labelWnids?: string[];
  signal?: AbortSignal;
}

function preprocessingFor(inputSize: Pair | undefined, overrides: ModelOverrides): Preprocessing {
  return {
    inputSize: inputSize ?? DEFAULT_INPUT_SIZE,
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    resize: 'center-crop',
    ...overrides.preprocessing,
  };
}

/** Labels must match the output units; checked here so no stage gets a silently shifted list. */
function checkLabels(model: CnnModel): CnnModel {
  const outputs = inferShapes(model.graph, model.preprocessing.inputSize).get(model.graph.output)?.channels;
  for (const [field, list] of [['labels', model.labels], ['labelWnids', model.labelWnids]] as const) {
    if (list && list.length !== outputs) {
      throw userError({ where: `model ${model.name} ${field}`, expected: `one entry per output unit (${outputs})`, received: `${list.length} entries` });
    }
  }
  return model;
}

/** Completes a loaded graph into a CnnModel: digest, preprocessing (defaults + overrides), labels. */
export async function modelFromGraph(
  graph: Graph,
  files: string[],
  source: CnnModel['source'],
  inputSize: Pair | undefined,
  overrides: ModelOverrides,
  defaults: { name: string; labels?: string[]; labelWnids?: string[]; graphFor?: CnnModel['graphFor'] },
): Promise<CnnModel> {
  const weightsDigest = await digestFiles(files, overrides.signal);
  const labels = overrides.labels ?? defaults.labels;
  const labelWnids = overrides.labelWnids ?? defaults.labelWnids;
  return checkLabels({
    name: overrides.name ?? defaults.name,
    version: overrides.version ?? `sha256:${weightsDigest.slice(0, 12)}`,
    source,
    graph,
    ...(defaults.graphFor ? { graphFor: defaults.graphFor } : {}),
    preprocessing: preprocessingFor(inputSize, overrides),
    ...(labels ? { labels } : {}),
    ...(labelWnids ? { labelWnids } : {}),
    weightsDigest,
    weightFiles: files,
  });
}

/** TensorFlow.js layers model.json (+ shards). Digest: model.json then the shards in manifest order. */
export async function modelFromTfjs(modelJson: string, overrides: ModelOverrides = {}): Promise<CnnModel> {
  // A model.json filter-atlas wrote (a variant) carries its preprocessing, name and labels; explicit overrides win.
  const stored = await readModelMetadata(modelJson);
  const preprocessing = { ...stored?.preprocessing, ...overrides.preprocessing };
  const inputSize = preprocessing.inputSize;
  const loaded = await loadTfjsLayersGraph(modelJson, { inputSize });
  return modelFromGraph(loaded.graph, loaded.files, { format: 'tfjs-layers', path: modelJson }, inputSize ?? loaded.declaredInputSize, { ...overrides, preprocessing }, {
    name: stored?.name ?? basename(dirname(modelJson)),
    labels: stored?.labels,
    labelWnids: stored?.labelWnids,
  });
}

/** A torchvision VGG-16 state dict as safetensors; a 1000-class head gets the ImageNet labels. */
export async function modelFromSafetensors(path: string, arch: VggArch, overrides: ModelOverrides = {}): Promise<CnnModel> {
  const file = await readSafetensors(path);
  const { graph, classes } = vggGraph(file, arch);
  const imagenet = classes === 1000 ? await loadImagenetClasses() : undefined;
  return modelFromGraph(graph, [path], { format: 'safetensors', path, architecture: arch }, [224, 224], overrides, {
    name: basename(path).replace(/\.safetensors$/i, ''),
    labels: imagenet?.names,
    labelWnids: imagenet?.wnids,
  });
}
