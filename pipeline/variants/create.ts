/**
 * `filter-atlas variant`: a second version of a TensorFlow.js layers model or an ONNX model (quantised,
 * permuted or perturbed weights), written as a tfjs layers folder (model.json + one weight shard) or as
 * `<folder>/<name>.onnx` (onnx.ts), that loadModel reads by path. The model.json records what it was made from and how (metadata.ts), including the
 * permutation, so a diff's unit matching can be checked against the truth.
 */
import { readFile, realpath } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { userError } from '../errors.js';
import type { CnnModel } from '../model/graph.js';
import { parseTopology } from '../model/tfjs-topology.js';
import { readTfjsWeights } from '../model/tfjs-weights.js';
import { writeFileAtomic } from '../util/fs.js';
import { createRandom, deriveSeed } from '../util/random.js';
import { METADATA_KEY, type ModelMetadata, type VariantOperation } from '../model/metadata.js';
import { permuteConv, perturbKernel, quantizeKernels, type Weights } from './operations.js';

export interface VariantOptions {
  /** Output folder (created; model.json and the shard inside are replaced). */
  out: string;
  quantize?: 'int8';
  /** Conv2D layers whose output channels are reordered. */
  permute: string[];
  perturb: Array<{ layer: string; scale: number }>;
  seed: number;
  /** Model name recorded in the metadata (what atlases show); default: "<base> (<operations>)". */
  name?: string;
}

export interface VariantResult {
  dir: string;
  /** The file to pass as the model: model.json (TensorFlow.js) or <name>.onnx. */
  modelFile: string;
  base: CnnModel;
  variant: CnnModel;
  operations: VariantOperation[];
}

export interface VariantDeps {
  loadModel(spec: string, options?: { signal?: AbortSignal }): Promise<CnnModel>;
}

export const SHARD_NAME = 'group1-shard1of1.bin';

/** "conv2d_3:0.5" -> {layer, scale}. */
export function parsePerturbFlag(value: string): { layer: string; scale: number } {
  const at = value.lastIndexOf(':');
  const scale = at > 0 ? Number(value.slice(at + 1)) : NaN;
  if (at <= 0 || value.slice(at + 1).trim() === '' || !Number.isFinite(scale) || scale < 0) {
    throw userError({ where: '--perturb', expected: 'LAYER:SCALE with a non-negative relative scale, e.g. conv2d_3:0.5', received: JSON.stringify(value) });
  }
  return { layer: value.slice(0, at), scale };
}

function describeOperation(op: VariantOperation): string {
  if (op.kind === 'permute') return `permute ${op.layer}`;
  if (op.kind === 'perturb') return `perturb ${op.layer} x${op.scale}`;
  return 'int8';
}

/** All weights in manifest order as one little-endian float32 shard. */
function encodeShard(weights: Weights): Buffer {
  const total = [...weights.values()].reduce((sum, t) => sum + t.data.length, 0);
  const buffer = Buffer.alloc(total * 4);
  let offset = 0;
  for (const tensor of weights.values()) {
    for (const value of tensor.data) {
      buffer.writeFloatLE(value, offset);
      offset += 4;
    }
  }
  return buffer;
}

async function sameFolder(a: string, b: string): Promise<boolean> {
  const real = async (p: string) => realpath(p).catch(() => resolve(p));
  return (await real(a)) === (await real(b));
}

export async function createVariant(spec: string, options: VariantOptions, deps: VariantDeps): Promise<VariantResult> {
  if (!options.quantize && options.permute.length === 0 && options.perturb.length === 0) {
    throw userError({ where: 'filter-atlas variant', expected: 'at least one of --quantize int8, --permute LAYER, --perturb LAYER:SCALE', received: 'none' });
  }
  if (!Number.isSafeInteger(options.seed) || options.seed < 0) throw userError({ where: '--seed', expected: 'a non-negative integer', received: String(options.seed) });
  const base = await deps.loadModel(spec);
  if (base.source.format !== 'tfjs-layers' && base.source.format !== 'onnx') {
    throw userError({
      where: `model ${JSON.stringify(spec)}`,
      expected: 'a TensorFlow.js layers model (darknet-tiny, mobilenet-v1-0.25 or a model.json) or an .onnx file',
      received: `a ${base.source.format} model`,
      fix: 'Export the model to ONNX (torch.onnx.export) and pass the .onnx file.',
    });
  }
  const sourceJson = base.source.path;
  const dir = resolve(options.out);
  if (await sameFolder(dir, dirname(sourceJson))) {
    throw userError({ where: '--output', expected: "a folder other than the source model's", received: dir, fix: 'Write the variant to a new folder, e.g. --output output/variants/my-variant.' });
  }
  if (base.source.format === 'onnx') return createOnnxVariant(spec, base, dir, options, deps);
  const parsed = JSON.parse(await readFile(sourceJson, 'utf8')) as Record<string, unknown>;
  const topology = parseTopology(parsed.modelTopology, sourceJson);
  let weights: Weights = (await readTfjsWeights(parsed.weightsManifest, dirname(sourceJson), sourceJson)).tensors;

  // Each operation draws from its own stream, so adding one never changes what another does.
  const operations: VariantOperation[] = [];
  const apply = (result: { weights: Weights; operation: VariantOperation }) => {
    weights = result.weights;
    operations.push(result.operation);
  };
  options.permute.forEach((layer, i) => apply(permuteConv(topology, weights, layer, createRandom(deriveSeed(options.seed, 1, i)))));
  options.perturb.forEach(({ layer, scale }, i) => apply(perturbKernel(topology, weights, layer, scale, createRandom(deriveSeed(options.seed, 2, i)))));
  if (options.quantize === 'int8') apply(quantizeKernels(topology, weights));
  else if (options.quantize !== undefined) throw userError({ where: '--quantize', expected: '"int8"', received: JSON.stringify(options.quantize) });

  const metadata: ModelMetadata = {
    name: options.name ?? `${base.name} (${operations.map(describeOperation).join(', ')})`,
    preprocessing: base.preprocessing,
    ...(base.labels ? { labels: base.labels } : {}),
    ...(base.labelWnids ? { labelWnids: base.labelWnids } : {}),
    variant: { of: { spec, name: base.name, version: base.version, weightsDigest: base.weightsDigest }, seed: options.seed, operations },
  };
  const userDefinedMetadata = { ...(parsed.userDefinedMetadata as Record<string, unknown> | undefined), [METADATA_KEY]: metadata };
  const manifest = [{ paths: [SHARD_NAME], weights: [...weights].map(([name, t]) => ({ name, shape: t.shape, dtype: 'float32' })) }];
  // The shard first: a model.json present means the folder is complete.
  await writeFileAtomic(join(dir, SHARD_NAME), encodeShard(weights));
  const modelJson = join(dir, 'model.json');
  await writeFileAtomic(modelJson, JSON.stringify({ ...parsed, weightsManifest: manifest, userDefinedMetadata }) + '\n');
  // Read it back through the real loader: the folder is only done when loadModel accepts it.
  const variant = await deps.loadModel(modelJson);
  return { dir, modelFile: modelJson, base, variant, operations };
}

async function createOnnxVariant(spec: string, base: CnnModel, dir: string, options: VariantOptions, deps: VariantDeps): Promise<VariantResult> {
  const { writeOnnxVariant } = await import('./onnx.js');
  const { file, operations } = await writeOnnxVariant(base.source.path, { ...options, out: dir }, (ops) => ({
    name: options.name ?? `${base.name} (${ops.map(describeOperation).join(', ')})`,
    variant: { of: { spec, name: base.name, version: base.version, weightsDigest: base.weightsDigest }, seed: options.seed, operations: ops },
  }));
  // Read it back through the real loader: the file is only done when loadModel accepts it.
  const variant = await deps.loadModel(file);
  return { dir, modelFile: file, base, variant, operations };
}
