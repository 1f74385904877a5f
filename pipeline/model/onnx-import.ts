/**
 * Any ONNX CNN within the supported op set -> the one CnnModel graph. Nodes keep their ONNX
 * names (or their first output's name when unnamed). Weights come from initializers or
 * Constant nodes; a Conv/Gemm/MatMul weight must be constant (no runtime-computed weights).
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import pkg from 'onnx-proto';
import { describeValue, userError } from '../errors.js';
import { INPUT, type CnnModel, type Graph, type GraphNode, type Op, type Pads, type Pair } from './graph.js';
import { inferShapes, type Shape } from './layers.js';
import { asFloat32, attributesOf, decodeTensor, toNumber, type Attributes, type OnnxConstant } from './onnx-values.js';
import { samePads } from './padding.js';
import { modelFromGraph, type ModelOverrides } from './from-file.js';

const { onnx } = pkg;
type NodeProto = pkg.onnx.INodeProto;

export const SUPPORTED_ONNX_OPS = [
  'Conv', 'Gemm', 'MatMul', 'BatchNormalization', 'Relu', 'LeakyRelu', 'Clip', 'MaxPool', 'AveragePool', 'GlobalAveragePool',
  'Pad', 'Add', 'Concat', 'Flatten', 'Reshape', 'Softmax', 'Dropout', 'Identity', 'Constant',
];

const DEFAULT_SIZE: Pair = [224, 224];
/** Marks secondary outputs (MaxPool indices, BatchNormalization training stats): not part of the graph. */
const UNSUPPORTED_OUTPUT = ':secondary-output';

class OnnxConverter {
  readonly nodes: GraphNode[] = [];
  /** ONNX tensor name -> graph node producing it (INPUT for the model input). */
  private readonly producer = new Map<string, string>();
  private readonly names = new Set<string>([INPUT]);

  constructor(
    readonly file: string,
    private readonly constants: Map<string, OnnxConstant>,
    private readonly inputSize: Pair,
    inputName: string,
    /** Default-domain opset: defaults of some attributes changed (Softmax axis at 13). */
    private readonly opset: number,
  ) {
    this.producer.set(inputName, INPUT);
  }

  error(node: NodeProto, expected: string, received: string, fix?: string): Error {
    return userError({ where: `${this.file} node ${JSON.stringify(node.name ?? '')} (${node.opType})`, expected, received, fix });
  }

  private uniqueName(node: NodeProto): string {
    const base = node.name || node.output?.[0] || node.opType || 'node';
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  /** Graph node feeding input `index` of an ONNX node. */
  private from(node: NodeProto, index = 0): string {
    const tensor = node.input?.[index] ?? '';
    const source = this.producer.get(tensor);
    if (source?.endsWith(UNSUPPORTED_OUTPUT)) throw this.error(node, `input ${index} to be the first output of its node`, `${JSON.stringify(tensor)}, a secondary output (e.g. MaxPool indices)`);
    if (!source) {
      const what = this.constants.has(tensor) ? 'a constant where a computed tensor is needed' : `unknown tensor ${JSON.stringify(tensor)}`;
      throw this.error(node, `input ${index} computed from the model input`, what);
    }
    return source;
  }

  private constant(node: NodeProto, index: number, what: string): OnnxConstant {
    const tensor = node.input?.[index] ?? '';
    const value = this.constants.get(tensor);
    if (!value) throw this.error(node, `${what} (input ${index}) as an initializer or Constant`, tensor ? `computed tensor ${JSON.stringify(tensor)}` : 'none');
    return value;
  }

  private optionalConstant(node: NodeProto, index: number, what: string): OnnxConstant | undefined {
    return node.input?.[index] ? this.constant(node, index, what) : undefined;
  }

  private shape(name: string): Shape {
    return inferShapes({ inputChannels: 3, nodes: this.nodes, output: name }, this.inputSize).get(name)!;
  }

  private add(node: NodeProto, op: Op, inputs: string[]): void {
    const name = this.uniqueName(node);
    this.nodes.push({ name, op, inputs });
    this.producer.set(node.output?.[0] ?? name, name);
    for (const extra of (node.output ?? []).slice(1)) {
      if (extra) this.producer.set(extra, `${name}${UNSUPPORTED_OUTPUT}`); // refused if anything reads it
    }
  }

  /** Explicit pads, or auto_pad computed at the model's input size (exact for stride 1). */
  private pads(node: NodeProto, a: Attributes, input: string, kernel: Pair, strides: Pair, dilations: Pair): Pads {
    const auto = a.string('auto_pad', 'NOTSET');
    if (auto === 'VALID') return [0, 0, 0, 0];
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      const { height, width } = this.shape(input);
      const [top, left, bottom, right] = samePads([height, width], kernel, strides, dilations);
      return auto === 'SAME_UPPER' ? [top, left, bottom, right] : [bottom, right, top, left];
    }
    const p = a.ints('pads', [0, 0, 0, 0]);
    if (p.length !== 4) throw this.error(node, '2-D pads [top, left, bottom, right]', `[${p}]`);
    return [p[0], p[1], p[2], p[3]];
  }

  private conv(node: NodeProto, a: Attributes): void {
    const input = this.from(node);
    const w = this.constant(node, 1, 'the weight');
    if (w.dims.length !== 4) throw this.error(node, 'a 2-D convolution (4-D weight)', `weight dims [${w.dims}]`);
    const b = this.optionalConstant(node, 2, 'the bias');
    const kernel: Pair = [w.dims[2], w.dims[3]];
    const strides = a.ints('strides', [1, 1]) as Pair;
    const dilations = a.ints('dilations', [1, 1]) as Pair;
    const group = a.int('group', 1);
    const inChannels = this.shape(input).channels;
    if (w.dims[1] * group !== inChannels) throw this.error(node, `weight dims [out, ${inChannels / group}, kh, kw] for ${inChannels} input channels and group ${group}`, `[${w.dims}]`);
    const pads = this.pads(node, a, input, kernel, strides, dilations);
    this.add(node, { kind: 'conv', weight: { shape: w.dims, data: asFloat32(w.values) }, bias: b && asFloat32(b.values), strides, pads, dilations, group }, [input]);
  }

  private denseInput(node: NodeProto): { input: string; features: number } {
    const input = this.from(node);
    const s = this.shape(input);
    if (s.height * s.width !== 1) throw this.error(node, 'a flattened (N, features) input', `(N, ${s.channels}, ${s.height}, ${s.width})`, 'Add a Flatten before the fully connected layer.');
    return { input, features: s.channels };
  }

  private gemm(node: NodeProto, a: Attributes): void {
    const { input, features } = this.denseInput(node);
    if (a.int('transA', 0) !== 0) throw this.error(node, 'transA = 0', '1');
    const b = this.constant(node, 1, 'the weight');
    const transB = a.int('transB', 0) === 1;
    const [rows, cols] = b.dims;
    const [inDim, out] = transB ? [cols, rows] : [rows, cols];
    if (b.dims.length !== 2 || inDim !== features) throw this.error(node, `a weight of ${features} input features`, `dims [${b.dims}] (transB ${transB ? 1 : 0})`);
    const alpha = a.float('alpha', 1);
    const beta = a.float('beta', 1);
    let data: Float32Array;
    if (transB && alpha === 1) data = asFloat32(b.values); // already [out, in]: PyTorch's Linear export
    else {
      data = new Float32Array(out * inDim);
      for (let o = 0; o < out; o++) for (let i = 0; i < inDim; i++) data[o * inDim + i] = alpha * (transB ? b.values[o * inDim + i] : b.values[i * out + o]);
    }
    const c = this.optionalConstant(node, 2, 'the bias');
    if (c && c.values.length !== out && c.values.length !== 1) throw this.error(node, `a bias of ${out} values`, `dims [${c.dims}]`);
    const bias = c ? Float32Array.from({ length: out }, (_, o) => beta * c.values[c.values.length === 1 ? 0 : o]) : undefined;
    this.add(node, { kind: 'dense', weight: { shape: [out, inDim], data }, bias }, [input]);
  }

  private matMul(node: NodeProto): void {
    const { input, features } = this.denseInput(node);
    const w = this.constant(node, 1, 'the weight');
    if (w.dims.length !== 2 || w.dims[0] !== features) throw this.error(node, `a weight [${features}, out]`, `dims [${w.dims}]`);
    const out = w.dims[1];
    const data = new Float32Array(out * features);
    for (let o = 0; o < out; o++) for (let i = 0; i < features; i++) data[o * features + i] = w.values[i * out + o];
    this.add(node, { kind: 'dense', weight: { shape: [out, features], data } }, [input]);
  }

  /** Add of two computed tensors (residual), or a MatMul's bias (MatMul + Add = Linear). */
  private addOp(node: NodeProto): void {
    const constantIndex = [0, 1].find((i) => this.constants.has(node.input?.[i] ?? ''));
    if (constantIndex === undefined) {
      this.add(node, { kind: 'add' }, (node.input ?? []).map((_, i) => this.from(node, i)));
      return;
    }
    const source = this.from(node, 1 - constantIndex);
    const dense = this.nodes.find((n) => n.name === source);
    const bias = this.constants.get(node.input![constantIndex])!;
    if (dense?.op.kind !== 'dense' || dense.op.bias || bias.values.length !== dense.op.weight.shape[0]) {
      throw this.error(node, 'an Add of two computed tensors, or the bias of a preceding MatMul', `a constant of dims [${bias.dims}] added to ${source}`);
    }
    dense.op.bias = asFloat32(bias.values);
    this.producer.set(node.output?.[0] ?? '', dense.name);
  }

  private pool(node: NodeProto, a: Attributes, kind: 'maxPool' | 'avgPool'): void {
    const input = this.from(node);
    const kernel = a.ints('kernel_shape', []) as Pair;
    if (kernel.length !== 2) throw this.error(node, '2-D kernel_shape', `[${kernel}]`);
    if (a.ints('dilations', [1, 1]).some((d) => d !== 1)) throw this.error(node, 'dilations 1', `[${a.ints('dilations', [])}]`);
    const strides = a.ints('strides', [1, 1]) as Pair;
    const pads = this.pads(node, a, input, kernel, strides, [1, 1]);
    const ceil = a.int('ceil_mode', 0) === 1;
    const op: Op = kind === 'maxPool' ? { kind, kernel, strides, pads, ceil } : { kind, kernel, strides, pads, ceil, countIncludePad: a.int('count_include_pad', 0) === 1 };
    this.add(node, op, [input]);
  }

  private clip(node: NodeProto, a: Attributes): void {
    const scalar = (index: number, fallback: number) => this.optionalConstant(node, index, 'the bound')?.values[0] ?? fallback;
    const min = a.has('min') ? a.float('min', -Infinity) : scalar(1, -Infinity);
    const max = a.has('max') ? a.float('max', Infinity) : scalar(2, Infinity);
    this.add(node, min === 0 && max === Infinity ? { kind: 'relu' } : { kind: 'clip', min, max }, [this.from(node)]);
  }

  private pad(node: NodeProto, a: Attributes): void {
    const mode = a.string('mode', 'constant');
    const p = a.has('pads') ? a.ints('pads', []) : Array.from(this.constant(node, 1, 'pads').values);
    const value = a.has('value') ? a.float('value', 0) : (this.optionalConstant(node, 2, 'the pad value')?.values[0] ?? 0);
    if (mode !== 'constant' || value !== 0) throw this.error(node, 'constant padding with 0', `mode ${mode}, value ${value}`);
    if (p.length !== 8 || p[0] || p[1] || p[4] || p[5] || p.some((x) => x < 0)) throw this.error(node, 'non-negative pads of the spatial dims only (8 values, N and C zero)', `[${p}]`);
    this.add(node, { kind: 'pad', pads: [p[2], p[3], p[6], p[7]] }, [this.from(node)]);
  }

  private reshape(node: NodeProto): void {
    const input = this.from(node);
    const s = this.shape(input);
    const target = Array.from(this.constant(node, 1, 'the target shape').values);
    const features = s.channels * s.height * s.width;
    const batch = target[0] === 0 || target[0] === -1 || target[0] === 1;
    if (batch && target.length === 2 && (target[1] === features || target[1] === -1)) return this.add(node, { kind: 'flatten' }, [input]);
    if (batch && target.length === 4 && target[1] === s.channels && target[2] === s.height && target[3] === s.width) return this.add(node, { kind: 'identity' }, [input]);
    if (batch && target.length === 4 && s.height * s.width === 1 && target[1] === s.channels && target[2] === 1 && target[3] === 1) return this.add(node, { kind: 'identity' }, [input]);
    throw this.error(node, `a Reshape that flattens (N, ${features}) or keeps (N, ${s.channels}, ${s.height}, ${s.width})`, `target [${target}]`);
  }

  convert(node: NodeProto): void {
    const a = attributesOf(node);
    const axis = (fallback: number) => a.int('axis', fallback);
    switch (node.opType) {
      case 'Constant': {
        const t = a.tensor('value');
        if (!t) throw this.error(node, 'a tensor value', 'another attribute (value_float, sparse_value, ...)');
        this.constants.set(node.output?.[0] ?? '', decodeTensor(t, `${this.file} node ${node.name}`));
        return;
      }
      case 'Conv':
        return this.conv(node, a);
      case 'Gemm':
        return this.gemm(node, a);
      case 'MatMul':
        return this.matMul(node);
      case 'BatchNormalization': {
        const input = this.from(node);
        const v = [1, 2, 3, 4].map((i) => asFloat32(this.constant(node, i, ['scale', 'bias', 'mean', 'variance'][i - 1]).values));
        return this.add(node, { kind: 'batchNorm', scale: v[0], bias: v[1], mean: v[2], variance: v[3], epsilon: a.float('epsilon', 1e-5) }, [input]);
      }
      case 'Relu':
        return this.add(node, { kind: 'relu' }, [this.from(node)]);
      case 'LeakyRelu':
        return this.add(node, { kind: 'leakyRelu', alpha: a.float('alpha', 0.01) }, [this.from(node)]);
      case 'Clip':
        return this.clip(node, a);
      case 'MaxPool':
        return this.pool(node, a, 'maxPool');
      case 'AveragePool':
        return this.pool(node, a, 'avgPool');
      case 'GlobalAveragePool':
        return this.add(node, { kind: 'globalAvgPool' }, [this.from(node)]);
      case 'Pad':
        return this.pad(node, a);
      case 'Add':
        return this.addOp(node);
      case 'Concat':
        if (axis(1) !== 1) throw this.error(node, 'concatenation along channels (axis 1)', `axis ${axis(1)}`);
        return this.add(node, { kind: 'concat' }, (node.input ?? []).map((_, i) => this.from(node, i)));
      case 'Flatten':
        if (axis(1) !== 1) throw this.error(node, 'axis 1', `axis ${axis(1)}`);
        return this.add(node, { kind: 'flatten' }, [this.from(node)]);
      case 'Reshape':
        return this.reshape(node);
      case 'Softmax': {
        const input = this.from(node);
        // Over channels: axis 1, or the last axis of a 2-D (N, C) tensor from Flatten / Gemm.
        const kind = this.nodes.find((n) => n.name === input)?.op.kind;
        const flat = kind === 'dense' || kind === 'flatten';
        const value = axis(this.opset >= 13 ? -1 : 1);
        if (value !== 1 && !(flat && value === -1)) throw this.error(node, 'softmax over channels (axis 1, or -1 after Flatten / Gemm)', `axis ${value}`);
        return this.add(node, { kind: 'softmax' }, [input]);
      }
      case 'Dropout':
      case 'Identity': {
        // PyTorch exports shared or folded weights as Identity(initializer): the output is a constant too.
        const constant = this.constants.get(node.input?.[0] ?? '');
        if (constant) return void this.constants.set(node.output?.[0] ?? '', constant);
        return this.add(node, { kind: 'identity' }, [this.from(node)]);
      }
      default:
        throw this.error(node, `a supported op (${SUPPORTED_ONNX_OPS.join(', ')})`, `unsupported op ${node.opType}`, 'Simplify the export (e.g. torch.flatten instead of view/reshape with computed shapes, onnxsim) or ask for the op to be supported.');
    }
  }

  outputOf(tensor: string): string {
    const node = this.producer.get(tensor);
    if (!node || node.endsWith(UNSUPPORTED_OUTPUT)) throw userError({ where: `${this.file} output ${JSON.stringify(tensor)}`, expected: 'a tensor computed by a supported node', received: describeValue(node) });
    return node;
  }
}

export interface OnnxGraph {
  graph: Graph;
  declaredInputSize?: Pair;
}

/** Decodes an ONNX model (bytes) into the graph; `file` names it in errors. */
export function onnxGraph(bytes: Uint8Array, file: string, options: { inputSize?: Pair } = {}): OnnxGraph {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw userError({ where: file, expected: 'an ONNX model (protobuf ModelProto)', received: error instanceof Error ? error.message : String(error) }, error);
  }
  const g = model.graph;
  if (!g) throw userError({ where: file, expected: 'an ONNX model with a graph', received: 'none' });
  const constants = new Map<string, OnnxConstant>();
  for (const init of g.initializer ?? []) constants.set(init.name ?? '', decodeTensor(init, `${file} initializer ${init.name}`));
  const inputs = (g.input ?? []).filter((i) => !constants.has(i.name ?? ''));
  if (inputs.length !== 1) throw userError({ where: file, expected: 'exactly one image input', received: `${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})` });
  const dims = (inputs[0].type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam || d.dimValue == null ? undefined : toNumber(d.dimValue)));
  if (dims.length !== 4 || dims[1] !== 3) {
    throw userError({ where: `${file} input ${inputs[0].name}`, expected: 'an image input N x 3 x H x W (NCHW, RGB)', received: `[${dims.map((d) => d ?? '?').join(', ')}]` });
  }
  const declaredInputSize: Pair | undefined = dims[2] && dims[3] ? [dims[2], dims[3]] : undefined;
  const opset = toNumber((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 13);
  const converter = new OnnxConverter(file, constants, options.inputSize ?? declaredInputSize ?? DEFAULT_SIZE, inputs[0].name ?? '', opset);
  for (const node of g.node ?? []) converter.convert(node);
  const outputs = g.output ?? [];
  if (outputs.length !== 1) throw userError({ where: file, expected: 'exactly one output', received: `${outputs.length}` });
  return { graph: { inputChannels: 3, nodes: converter.nodes, output: converter.outputOf(outputs[0].name ?? '') }, declaredInputSize };
}

/** An .onnx file as a CnnModel: ImageNet mean/std at the input's static size (224 if dynamic) unless overridden. */
export async function modelFromOnnx(path: string, overrides: ModelOverrides = {}): Promise<CnnModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw userError({ where: path, expected: 'a readable .onnx file', received: (error as NodeJS.ErrnoException).code ?? String(error) }, error);
  }
  const inputSize = overrides.preprocessing?.inputSize;
  const { graph, declaredInputSize } = onnxGraph(bytes, path, { inputSize });
  return modelFromGraph(graph, [path], { format: 'onnx', path }, inputSize ?? declaredInputSize, overrides, { name: basename(path).replace(/\.onnx$/i, '') });
}
