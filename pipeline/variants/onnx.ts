/**
 * `filter-atlas variant` for ONNX models (what users export from PyTorch): the same three
 * operations as for TensorFlow.js models, on the ONNX initializers. Conv weights are
 * [out, in / group, kh, kw], Gemm weights [out, in] (transB = 1, PyTorch's export), so the output
 * channel is the leading axis. The file keeps every node, attribute and other initializer as it was;
 * what was done is recorded in the model's metadata_props (key `filterAtlas`).
 */
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import pkg from 'onnx-proto';
import { userError } from '../errors.js';
import { decodeTensor, toNumber } from '../model/onnx-values.js';
import { writeFileAtomic } from '../util/fs.js';
import { createRandom, deriveSeed, type Random } from '../util/random.js';
import { didYouMean } from '../util/suggest.js';
import { METADATA_KEY, type VariantOperation } from '../model/metadata.js';
import { gaussian, randomPermutation, rms } from './operations.js';

const { onnx } = pkg;
type ModelProto = pkg.onnx.ModelProto;
type NodeProto = pkg.onnx.INodeProto;
type TensorProto = pkg.onnx.ITensorProto;

/** Ops that act on each channel alone: a reordering of channels passes through them unchanged. */
const CHANNELWISE = new Set(['Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'HardSigmoid', 'HardSwish', 'Elu', 'Selu', 'Tanh', 'MaxPool', 'AveragePool', 'Dropout', 'Identity']);
const BN_INPUTS = [1, 2, 3, 4]; // scale, B, mean, var

export interface OnnxVariantOptions {
  out: string;
  quantize?: 'int8';
  permute: string[];
  perturb: Array<{ layer: string; scale: number }>;
  seed: number;
}

/** An ONNX model's weights by initializer name, decoded once, written back as raw float32. */
class Initializers {
  private readonly byName: Map<string, TensorProto>;
  constructor(
    model: ModelProto,
    private readonly file: string,
  ) {
    this.byName = new Map((model.graph?.initializer ?? []).map((t) => [t.name ?? '', t]));
  }
  has(name: string): boolean {
    return this.byName.has(name);
  }
  read(name: string): { dims: number[]; data: Float32Array } {
    const tensor = this.byName.get(name)!;
    const { dims, values } = decodeTensor(tensor, `${this.file} initializer ${name}`);
    return { dims, data: Float32Array.from(values) };
  }
  write(name: string, data: Float32Array): void {
    const tensor = this.byName.get(name)!;
    tensor.dataType = onnx.TensorProto.DataType.FLOAT;
    tensor.floatData = [];
    tensor.rawData = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
  }
}

/** Reorders axis `axis` of a row-major tensor: out[.., j, ..] = in[.., order[j], ..]. */
function permuteAxis(data: Float32Array, dims: number[], axis: number, order: readonly number[]): Float32Array {
  const inner = dims.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = dims.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = dims[axis];
  const out = new Float32Array(data.length);
  for (let o = 0; o < outer; o++) for (let j = 0; j < n; j++) out.set(data.subarray((o * n + order[j]) * inner, (o * n + order[j] + 1) * inner), (o * n + j) * inner);
  return out;
}

/** Symmetric int8 quantise-dequantise with one scale per leading-axis slice (output channel). */
export function quantizeLeadingAxis(data: Float32Array, channels: number): { data: Float32Array; maxAbsError: number } {
  const inner = data.length / channels;
  const out = new Float32Array(data.length);
  let maxAbsError = 0;
  for (let c = 0; c < channels; c++) {
    const slice = data.subarray(c * inner, (c + 1) * inner);
    const scale = slice.reduce((m, v) => Math.max(m, Math.abs(v)), 0) / 127;
    for (let i = 0; i < inner; i++) {
      const value = scale === 0 ? 0 : Math.round(slice[i] / scale) * scale;
      out[c * inner + i] = value;
      maxAbsError = Math.max(maxAbsError, Math.abs(value - slice[i]));
    }
  }
  return { data: out, maxAbsError };
}

function attribute(node: NodeProto, name: string): number | undefined {
  const found = node.attribute?.find((a) => a.name === name);
  return found ? toNumber(found.i) : undefined;
}

/** The Conv / Gemm nodes with an initializer weight, and how a user may name them. */
function weightedNodes(model: ModelProto, weights: Initializers): NodeProto[] {
  return (model.graph?.node ?? []).filter((n) => (n.opType === 'Conv' || (n.opType === 'Gemm' && attribute(n, 'transB') === 1)) && weights.has(n.input?.[1] ?? ''));
}

/** A node by its name or its first output's name (what `filter-atlas layers` shows). */
function findWeighted(nodes: NodeProto[], name: string, flag: string, ops: string[]): NodeProto {
  const candidates = nodes.filter((n) => ops.includes(n.opType ?? ''));
  const node = candidates.find((n) => n.name === name || n.output?.[0] === name);
  if (node) return node;
  const names = candidates.map((n) => n.name || n.output?.[0] || '');
  throw userError({
    where: flag,
    expected: `a ${ops.join(' or ')} node of the model (by node name or output name, e.g. ${JSON.stringify(names[0] ?? '')})`,
    received: JSON.stringify(name),
    fix: didYouMean(name, names) || 'Run `filter-atlas layers <model.onnx>` to see the names.',
  });
}

function permute(model: ModelProto, weights: Initializers, nodes: NodeProto[], layer: string, random: Random): VariantOperation {
  const flag = `--permute ${layer}`;
  const conv = findWeighted(nodes, layer, '--permute', ['Conv']);
  const refuse = (received: string) =>
    userError({
      where: flag,
      expected: "a Conv (group 1) whose output reaches exactly one next Conv through BatchNormalization, activation, pooling or dropout nodes (so the model's function is unchanged)",
      received,
      fix: 'Pick a conv in a plain chain, e.g. the first conv of a ResNet block (/layer1/layer1.0/conv1/Conv).',
    });
  if ((attribute(conv, 'group') ?? 1) !== 1) throw refuse(`${conv.name} with group ${attribute(conv, 'group')}`);
  const kernel = weights.read(conv.input![1]);
  const order = randomPermutation(kernel.dims[0], random);
  const updates: Array<[string, Float32Array]> = [[conv.input![1], permuteAxis(kernel.data, kernel.dims, 0, order)]];
  if (conv.input![2] && weights.has(conv.input![2])) {
    const bias = weights.read(conv.input![2]);
    updates.push([conv.input![2], permuteAxis(bias.data, bias.dims, 0, order)]);
  }
  const graph = model.graph!;
  const outputs = new Set((graph.output ?? []).map((o) => o.name));
  const batchNorms: string[] = [];
  let tensor = conv.output![0];
  for (;;) {
    if (outputs.has(tensor)) throw refuse(`${tensor} is a model output`);
    const consumers = (graph.node ?? []).filter((n) => n.input?.includes(tensor));
    if (consumers.length !== 1) throw refuse(`${tensor} feeds ${consumers.length} nodes${consumers.length ? ` (${consumers.map((n) => `${n.name} ${n.opType}`).join(', ')})` : ''}`);
    const next = consumers[0];
    if (next.opType === 'Conv') {
      if ((attribute(next, 'group') ?? 1) !== 1 || next.input?.[0] !== tensor || !weights.has(next.input[1])) throw refuse(`${next.name} (a grouped or unusual Conv)`);
      const nextKernel = weights.read(next.input[1]);
      updates.push([next.input[1], permuteAxis(nextKernel.data, nextKernel.dims, 1, order)]);
      for (const [name, data] of updates) weights.write(name, data);
      return { kind: 'permute', layer: conv.name || tensor, batchNorms, next: next.name || next.output?.[0] || '', order };
    }
    if (next.opType === 'BatchNormalization') {
      for (const i of BN_INPUTS) {
        const name = next.input?.[i];
        if (!name || !weights.has(name)) throw refuse(`${next.name} (BatchNormalization without initializer ${i})`);
        const values = weights.read(name);
        updates.push([name, permuteAxis(values.data, values.dims, 0, order)]);
      }
      batchNorms.push(next.name || next.output?.[0] || '');
    } else if (!CHANNELWISE.has(next.opType ?? '') || next.input?.[0] !== tensor) {
      throw refuse(`${next.name} (${next.opType})`);
    }
    tensor = next.output![0];
  }
}

function perturb(weights: Initializers, nodes: NodeProto[], layer: string, scale: number, random: Random): VariantOperation {
  const node = findWeighted(nodes, layer, '--perturb', ['Conv', 'Gemm']);
  const kernel = weights.read(node.input![1]);
  const sigma = scale * rms(kernel.data);
  const noise = gaussian(random);
  const data = kernel.data.map((v) => v + sigma * noise());
  let noiseSquares = 0;
  let kernelSquares = 0;
  data.forEach((v, i) => {
    noiseSquares += (v - kernel.data[i]) ** 2;
    kernelSquares += kernel.data[i] ** 2;
  });
  weights.write(node.input![1], data);
  return { kind: 'perturb', layer: node.name || node.output?.[0] || '', scale, relativeNorm: kernelSquares > 0 ? Math.sqrt(noiseSquares / kernelSquares) : 0 };
}

function quantize(weights: Initializers, nodes: NodeProto[]): VariantOperation {
  const kernels: string[] = [];
  let maxAbsError = 0;
  for (const node of nodes) {
    const name = node.input![1];
    const kernel = weights.read(name);
    const result = quantizeLeadingAxis(kernel.data, kernel.dims[0]);
    weights.write(name, result.data);
    kernels.push(name);
    maxAbsError = Math.max(maxAbsError, result.maxAbsError);
  }
  return { kind: 'quantize', scheme: 'int8-symmetric-per-output-channel', kernels, maxAbsError };
}

/**
 * Writes `<out>/<source file name>` with the operations applied, in the order permute, perturb,
 * quantize (as for TensorFlow.js models), each from its own seeded stream. Returns the file and
 * what was done.
 */
export async function writeOnnxVariant(source: string, options: OnnxVariantOptions, metadata: (operations: VariantOperation[]) => Record<string, unknown>): Promise<{ file: string; operations: VariantOperation[] }> {
  const model = onnx.ModelProto.decode(await readFile(source));
  const weights = new Initializers(model, source);
  const nodes = weightedNodes(model, weights);
  const operations: VariantOperation[] = [];
  options.permute.forEach((layer, i) => operations.push(permute(model, weights, nodes, layer, createRandom(deriveSeed(options.seed, 1, i)))));
  options.perturb.forEach(({ layer, scale }, i) => operations.push(perturb(weights, nodes, layer, scale, createRandom(deriveSeed(options.seed, 2, i)))));
  if (options.quantize === 'int8') operations.push(quantize(weights, nodes));
  model.metadataProps = [...(model.metadataProps ?? []).filter((p) => p.key !== METADATA_KEY), { key: METADATA_KEY, value: JSON.stringify(metadata(operations)) }];
  const file = join(options.out, basename(source));
  await writeFileAtomic(file, onnx.ModelProto.encode(model).finish());
  return { file, operations };
}
