/**
 * ONNX nodes -> model graph nodes, for one image size. Values known at import (initializers,
 * Constant nodes, and shape arithmetic on the now-known tensor shapes) are folded
 * (onnx-fold.ts); every other node becomes a graph node, checked by its shape rule as it is added.
 * Reshape targets that torch.onnx.export baked in at the export size are generalised once at that
 * size (reshapeTarget) so that the same graph holds at the ascent's other sizes.
 */
import pkg from 'onnx-proto';
import { FilterAtlasError, userError } from '../errors.js';
import { INPUT, type GraphNode, type Op, type Pads, type Pair, type ReshapeDim } from './graph.js';
import { BATCH, FOLD_RULES, listOf, makeConst, sliceIndices, type Const } from './onnx-fold.js';
import { asFloat32, attributesOf, decodeTensor, type Attributes } from './onnx-values.js';
import { describeShape, inputShape, nodeShape, padsAt, rankOf, type Shape } from './shapes.js';

type NodeProto = pkg.onnx.INodeProto;

/** ONNX ops that become graph nodes (ops whose inputs are all known are folded instead). */
export const SUPPORTED_ONNX_OPS = [
  'Conv', 'Gemm', 'MatMul', 'BatchNormalization', 'LayerNormalization', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh',
  'HardSigmoid', 'HardSwish', 'Erf', 'Gelu', 'Softplus', 'Pow', 'Sqrt', 'Reciprocal', 'Neg', 'Add', 'Sub', 'Mul', 'Div', 'Sum',
  'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Pad', 'ReduceMean', 'ReduceSum', 'Transpose', 'Reshape', 'Flatten',
  'Squeeze', 'Unsqueeze', 'Split', 'Slice', 'Concat', 'Softmax', 'Dropout', 'Identity', 'Cast', 'Constant',
  // shape arithmetic, folded at import:
  'Shape', 'Size', 'Gather', 'ConstantOfShape', 'Range', 'Equal', 'Less', 'Greater', 'Where', 'Expand', 'Floor', 'Ceil', 'Min', 'Max', 'Not',
];

type Value =
  | { kind: 'tensor'; node: string }
  | { kind: 'const'; value: Const; literal: boolean }
  | { kind: 'secondary' }
  /** Not computable at this size (lenient conversions only): the node that failed and why. */
  | { kind: 'invalid'; node: string; error: Error };

export interface ConvertOptions {
  file: string;
  size: Pair;
  opset: number;
  inputName: string;
  initializers: Map<string, Const>;
  /** Reshape targets generalised at the export size, by ONNX node index; filled when `record` is set. */
  reshapeTargets: Map<number, ReshapeDim[]>;
  /** Generalise literal reshape targets at this conversion (it runs at the export size). */
  record: boolean;
  /** Weights derived from initializers (transposes), shared by every size's conversion. */
  derived: Map<string, Float32Array>;
  /**
   * At a size other than the model's own, a node that cannot run there (a linear layer sized for
   * the model's input) is left out with its reason instead of failing the whole conversion.
   */
  lenient: boolean;
}

export interface Converted {
  nodes: GraphNode[];
  shapes: Map<string, Shape>;
  output: string;
  /** Nodes left out at this size (lenient conversions), by name, with the reason. */
  invalid: Map<string, Error>;
}

class Converter {
  readonly nodes: GraphNode[] = [];
  readonly shapes = new Map<string, Shape>();
  private readonly values = new Map<string, Value>();
  private readonly names = new Set<string>([INPUT]);
  private readonly constantNodes = new Map<string, string>();
  readonly invalid = new Map<string, Error>();

  constructor(private readonly options: ConvertOptions) {
    for (const [name, value] of options.initializers) this.values.set(name, { kind: 'const', value, literal: true });
    this.values.set(options.inputName, { kind: 'tensor', node: INPUT });
    this.shapes.set(INPUT, inputShape({ inputChannels: 3, nodes: [], output: INPUT }, options.size));
  }

  error(node: NodeProto, expected: string, received: string, fix?: string): Error {
    return userError({ where: `${this.options.file} node ${JSON.stringify(node.name ?? '')} (${node.opType})`, expected, received, fix });
  }

  private value(node: NodeProto, index: number): Value | undefined {
    const tensor = node.input?.[index] ?? '';
    if (!tensor) return undefined;
    const value = this.values.get(tensor);
    if (!value) throw this.error(node, `input ${index} computed by an earlier node`, `unknown tensor ${JSON.stringify(tensor)}`);
    if (value.kind === 'secondary') throw this.error(node, `input ${index} to be the first output of its node`, `${JSON.stringify(tensor)}, a secondary output (e.g. MaxPool indices)`);
    return value;
  }

  /** Graph node computing input `index` (a computed tensor; constants refused). */
  private tensor(node: NodeProto, index = 0): string {
    const value = this.value(node, index);
    if (value?.kind !== 'tensor') throw this.error(node, `input ${index} computed from the image`, value ? 'a constant' : 'none');
    return value.node;
  }

  private shapeOfNode(name: string): Shape {
    return this.shapes.get(name)!;
  }

  /** A known input (initializer, Constant, or folded shape arithmetic). */
  private constant(node: NodeProto, index: number, what: string): Const {
    const value = this.value(node, index);
    if (value?.kind !== 'const') throw this.error(node, `${what} (input ${index}) known at import (an initializer, a Constant or shape arithmetic)`, value ? 'a tensor computed from the image' : 'none');
    return value.value;
  }

  private optionalConstant(node: NodeProto, index: number, what: string): Const | undefined {
    return node.input?.[index] ? this.constant(node, index, what) : undefined;
  }

  /** A computed input, or a constant input as a `constant` graph node (one per constant tensor). */
  private operand(node: NodeProto, index: number): string {
    const value = this.value(node, index);
    if (!value) throw this.error(node, `input ${index}`, 'none');
    if (value.kind === 'tensor') return value.node;
    if (value.kind !== 'const') throw new Error('unreachable');
    const tensor = node.input![index];
    let name = this.constantNodes.get(tensor);
    if (!name) {
      name = this.unique(`${tensor}:constant`);
      this.pushNode({ name, op: { kind: 'constant', value: { shape: value.value.dims, data: asFloat32(value.value.values) } }, inputs: [] });
      this.constantNodes.set(tensor, name);
    }
    return name;
  }

  private unique(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  private pushNode(node: GraphNode): void {
    this.shapes.set(node.name, nodeShape(node, node.inputs.map((i) => this.shapeOfNode(i)), this.options.size));
    this.nodes.push(node);
  }

  /** Adds the node's graph node; its first output now names it, later outputs are refused if read. */
  private add(node: NodeProto, op: Op, inputs: string[], name = this.unique(node.name || node.output?.[0] || node.opType || 'node')): string {
    this.pushNode({ name, op, inputs });
    this.values.set(node.output?.[0] ?? name, { kind: 'tensor', node: name });
    for (const extra of (node.output ?? []).slice(1)) if (extra) this.values.set(extra, { kind: 'secondary' });
    return name;
  }

  private alias(node: NodeProto, index: number): void {
    const value = this.value(node, index);
    if (value) this.values.set(node.output?.[0] ?? '', value);
  }

  /** Full-shape axis, negative counted from the end. */
  private axis(node: NodeProto, axis: number, rank: number): number {
    const a = axis < 0 ? axis + rank : axis;
    if (a < 0 || a >= rank) throw this.error(node, `an axis within rank ${rank}`, String(axis));
    return a;
  }

  // ------------------------------------------------------------------------------------- folding

  /** Folds the node when everything it reads is known; false when it must become a graph node. */
  private tryFold(node: NodeProto, a: Attributes): boolean {
    const type = node.opType ?? '';
    if (type === 'Constant') {
      const t = a.tensor('value');
      let value: Const;
      if (t) value = decodeTensor(t, `${this.options.file} node ${node.name}`);
      else if (a.has('value_float')) value = makeConst([], [a.float('value_float', 0)], false);
      else if (a.has('value_int')) value = makeConst([], [a.int('value_int', 0)], true);
      else if (a.has('value_ints')) value = makeConst([a.ints('value_ints', []).length], a.ints('value_ints', []), true);
      else throw this.error(node, 'a tensor, float, int or ints value', 'another attribute (sparse_value, strings)');
      this.values.set(node.output?.[0] ?? '', { kind: 'const', value, literal: true });
      return true;
    }
    const rule = FOLD_RULES[type];
    if (!rule) return false;
    const inputs = (node.input ?? []).map((_, i) => this.value(node, i));
    const readsShapeOnly = type === 'Shape' || type === 'Size';
    const known = inputs.every((v) => v === undefined || v.kind === 'const');
    if (!known && !(readsShapeOnly && inputs[0]?.kind === 'tensor')) return false;
    const value = rule({
      attributes: a,
      inputs: inputs.map((v) => (v?.kind === 'const' ? v.value : undefined)),
      shapeOf: (i) => {
        const v = inputs[i];
        return v?.kind === 'tensor' ? [BATCH, ...this.shapeOfNode(v.node).dims] : undefined;
      },
      fail: (expected, received) => {
        throw this.error(node, expected, received);
      },
    });
    const literal = !readsShapeOnly && inputs.every((v) => v === undefined || (v.kind === 'const' && v.literal));
    this.values.set(node.output?.[0] ?? '', { kind: 'const', value, literal });
    return true;
  }

  // -------------------------------------------------------------------------------- tensor ops

  /** Explicit pads, or 'same' ones (kept as autoPad, recomputed per size; `pads` are this size's). */
  private pads(node: NodeProto, a: Attributes, input: Shape, kernel: Pair, dilations: Pair): { pads: Pads; autoPad?: 'same-upper' | 'same-lower' } {
    const auto = a.string('auto_pad', 'NOTSET');
    if (auto === 'VALID') return { pads: [0, 0, 0, 0] };
    if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
      const autoPad = auto === 'SAME_UPPER' ? 'same-upper' : 'same-lower';
      const strides = a.ints('strides', [1, 1]) as Pair;
      return { pads: padsAt({ pads: [0, 0, 0, 0], autoPad, strides }, kernel, dilations, [input.dims[1], input.dims[2]]), autoPad };
    }
    const p = a.ints('pads', [0, 0, 0, 0]);
    if (p.length !== 4 || rankOf(input) !== 4) throw this.error(node, '2-D pads [top, left, bottom, right] on an NCHW input', `[${p}]`);
    return { pads: [p[0], p[1], p[2], p[3]] };
  }

  private conv(node: NodeProto, a: Attributes): void {
    const input = this.tensor(node);
    const w = this.constant(node, 1, 'the weight');
    if (w.dims.length !== 4) throw this.error(node, 'a 2-D convolution (4-D weight)', `weight dims [${w.dims}]`);
    const b = this.optionalConstant(node, 2, 'the bias');
    const dilations = a.ints('dilations', [1, 1]) as Pair;
    const { pads, autoPad } = this.pads(node, a, this.shapeOfNode(input), [w.dims[2], w.dims[3]], dilations);
    const op: Op = {
      kind: 'conv',
      weight: { shape: w.dims, data: asFloat32(w.values) },
      ...(b ? { bias: asFloat32(b.values) } : {}),
      strides: a.ints('strides', [1, 1]) as Pair,
      pads,
      dilations,
      group: a.int('group', 1),
      ...(autoPad ? { autoPad } : {}),
    };
    this.add(node, op, [input]);
  }

  private pool(node: NodeProto, a: Attributes, kind: 'maxPool' | 'avgPool'): void {
    const input = this.tensor(node);
    const kernel = a.ints('kernel_shape', []) as Pair;
    if (kernel.length !== 2) throw this.error(node, '2-D kernel_shape', `[${kernel}]`);
    if (a.ints('dilations', [1, 1]).some((d) => d !== 1)) throw this.error(node, 'dilations 1', `[${a.ints('dilations', [])}]`);
    const strides = a.ints('strides', [1, 1]) as Pair;
    const { pads, autoPad } = this.pads(node, a, this.shapeOfNode(input), kernel, [1, 1]);
    const ceil = a.int('ceil_mode', 0) === 1;
    const common = { kernel, strides, pads, ceil, ...(autoPad ? { autoPad } : {}) };
    this.add(node, kind === 'maxPool' ? { kind, ...common } : { kind, ...common, countIncludePad: a.int('count_include_pad', 0) === 1 }, [input]);
  }

  /** Weight [in, out] (MatMul, Gemm without transB) as the graph's [out, in], transposed once per initializer. */
  private transposed(name: string, w: Const, scale = 1): Float32Array {
    const key = `${name}|${scale}`;
    let data = this.options.derived.get(key);
    if (!data) {
      const [rows, cols] = w.dims;
      data = new Float32Array(rows * cols);
      for (let o = 0; o < cols; o++) for (let i = 0; i < rows; i++) data[o * rows + i] = scale * w.values[i * cols + o];
      this.options.derived.set(key, data);
    }
    return data;
  }

  private gemm(node: NodeProto, a: Attributes): void {
    const input = this.tensor(node);
    const shape = this.shapeOfNode(input);
    if (shape.dims.length !== 1) throw this.error(node, 'a flattened (N, features) input', describeShape(shape), 'Add a Flatten before the fully connected layer.');
    if (a.int('transA', 0) !== 0) throw this.error(node, 'transA = 0', '1');
    const b = this.constant(node, 1, 'the weight');
    if (b.dims.length !== 2) throw this.error(node, 'a 2-D weight', `dims [${b.dims}]`);
    const transB = a.int('transB', 0) === 1;
    const alpha = a.float('alpha', 1);
    const beta = a.float('beta', 1);
    const out = transB ? b.dims[0] : b.dims[1];
    const inDim = transB ? b.dims[1] : b.dims[0];
    const data = transB && alpha === 1 ? asFloat32(b.values) : transB ? Float32Array.from(b.values, (v) => alpha * v) : this.transposed(node.input![1], b, alpha);
    const c = this.optionalConstant(node, 2, 'the bias');
    if (c && c.values.length !== out && c.values.length !== 1) throw this.error(node, `a bias of ${out} values`, `dims [${c.dims}]`);
    const bias = c ? Float32Array.from({ length: out }, (_, o) => beta * c.values[c.values.length === 1 ? 0 : o]) : undefined;
    this.add(node, { kind: 'dense', weight: { shape: [out, inDim], data }, ...(bias ? { bias } : {}) }, [input]);
  }

  private matMul(node: NodeProto): void {
    const input = this.tensor(node);
    const w = this.constant(node, 1, 'the weight (a MatMul of a tensor by a constant matrix)');
    if (w.dims.length !== 2) throw this.error(node, 'a 2-D weight [in, out]', `dims [${w.dims}]`);
    this.add(node, { kind: 'dense', weight: { shape: [w.dims[1], w.dims[0]], data: this.transposed(node.input![1], w) } }, [input]);
  }

  /** Add, Sub, Mul, Div (and Sum): element-wise with broadcasting; a MatMul's bias folds into it. */
  private arithmetic(node: NodeProto, kind: 'add' | 'sub' | 'mul' | 'div'): void {
    const inputs = (node.input ?? []).map((_, i) => this.value(node, i));
    if (kind === 'add' && inputs.length === 2) {
      const constantIndex = inputs.findIndex((v) => v?.kind === 'const');
      const other = inputs[1 - constantIndex];
      if (constantIndex >= 0 && other?.kind === 'tensor') {
        const dense = this.nodes.find((n) => n.name === other.node);
        const bias = (inputs[constantIndex] as { value: Const }).value;
        const sole = this.pendingReaders.get(node.input![1 - constantIndex])?.length === 1;
        if (dense?.op.kind === 'dense' && !dense.op.bias && bias.dims.length === 1 && bias.values.length === dense.op.weight.shape[0] && sole) {
          dense.op.bias = asFloat32(bias.values);
          this.values.set(node.output?.[0] ?? '', { kind: 'tensor', node: dense.name });
          return;
        }
      }
    }
    this.add(node, { kind }, inputs.map((_, i) => this.operand(node, i)));
  }

  /** Readers of each ONNX tensor (set by convertNodes): a MatMul's bias folds only into its sole reader. */
  pendingReaders = new Map<string, NodeProto[]>();

  private reduce(node: NodeProto, a: Attributes, kind: 'reduceMean' | 'reduceSum'): void {
    const input = this.tensor(node);
    const rank = rankOf(this.shapeOfNode(input));
    const fromInput = node.input?.[1] ? listOf(this.constant(node, 1, 'the axes')) : undefined;
    let axes = a.has('axes') ? a.ints('axes', []) : (fromInput ?? []);
    if (axes.length === 0) {
      if (a.int('noop_with_empty_axes', 0) === 1) return this.alias(node, 0);
      axes = Array.from({ length: rank }, (_, i) => i);
    }
    const normalized = [...new Set(axes.map((x) => this.axis(node, x, rank)))].sort((x, y) => x - y);
    if (normalized.includes(0)) throw this.error(node, 'a reduction over axes after the batch', `axes [${axes}]`);
    this.add(node, { kind, axes: normalized, keepDims: a.int('keepdims', 1) === 1 }, [input]);
  }

  private squeezeLike(node: NodeProto, a: Attributes, kind: 'squeeze' | 'unsqueeze'): void {
    const input = this.tensor(node);
    const shape = this.shapeOfNode(input);
    const axes = a.has('axes') ? a.ints('axes', []) : node.input?.[1] ? listOf(this.constant(node, 1, 'the axes')) : undefined;
    const rank = rankOf(shape) + (kind === 'unsqueeze' ? (axes?.length ?? 0) : 0);
    const resolved = axes ? axes.map((x) => this.axis(node, x, rank)) : shape.dims.flatMap((d, i) => (d === 1 ? [i + 1] : []));
    if (resolved.includes(0)) throw this.error(node, `axes after the batch`, `[${axes}]`);
    this.add(node, { kind, axes: [...new Set(resolved)].sort((x, y) => x - y) }, [input]);
  }

  /** One graph slice per output of a Split, named after the node and the output index. */
  private split(node: NodeProto, a: Attributes): void {
    const input = this.tensor(node);
    const shape = this.shapeOfNode(input);
    const axis = this.axis(node, a.int('axis', 0), rankOf(shape));
    if (axis === 0) throw this.error(node, 'a split along an axis after the batch', 'axis 0');
    const outputs = node.output ?? [];
    const size = shape.dims[axis - 1];
    const given = a.has('split') ? a.ints('split', []) : node.input?.[1] ? listOf(this.constant(node, 1, 'the split sizes')) : undefined;
    const parts = given ?? Array.from({ length: outputs.length }, (_, i) => Math.ceil(size / outputs.length) - (i === outputs.length - 1 ? Math.ceil(size / outputs.length) * outputs.length - size : 0));
    if (parts.length !== outputs.length || parts.reduce((x, y) => x + y, 0) !== size) throw this.error(node, `sizes adding up to ${size}, one per output`, `[${parts}]`);
    let start = 0;
    parts.forEach((part, i) => {
      const name = this.unique(`${node.name || outputs[0]}:${i}`);
      this.pushNode({ name, op: { kind: 'slice', axis, start, end: start + part }, inputs: [input] });
      this.values.set(outputs[i], { kind: 'tensor', node: name });
      start += part;
    });
  }

  /** Slice with known bounds: one graph slice per sliced axis (step 1), clamped at this size. */
  private slice(node: NodeProto): void {
    let current = this.tensor(node);
    const rank = rankOf(this.shapeOfNode(current));
    const starts = listOf(this.constant(node, 1, 'the starts'));
    const ends = listOf(this.constant(node, 2, 'the ends'));
    const axes = node.input?.[3] ? listOf(this.constant(node, 3, 'the axes')) : starts.map((_, i) => i);
    const steps = node.input?.[4] ? listOf(this.constant(node, 4, 'the steps')) : starts.map(() => 1);
    const cuts = axes.map((axis, i) => ({ axis: this.axis(node, axis, rank), start: starts[i], end: ends[i], step: steps[i] }));
    const dimOf = (axis: number) => this.shapeOfNode(current).dims[axis - 1];
    // Slices that keep a whole axis (exports write [0, INT64_MAX) for ':') are no-ops, the batch axis included.
    const whole = (cut: (typeof cuts)[number]) => cut.step === 1 && cut.start === 0 && (cut.axis === 0 ? cut.end >= 2 ** 31 - 1 : cut.end >= dimOf(cut.axis));
    const kept = cuts.filter((cut) => !whole(cut));
    if (kept.length === 0) return this.alias(node, 0);
    kept.forEach((cut, i) => {
      if (cut.axis === 0) throw this.error(node, 'a slice along an axis after the batch', `axis 0 [${cut.start}, ${cut.end})`);
      if (cut.step !== 1) throw this.error(node, 'slices with step 1', `step ${cut.step} on axis ${cut.axis}`);
      const size = dimOf(cut.axis);
      const indices = sliceIndices(size, cut.start, cut.end, 1);
      if (indices.length === 0) throw this.error(node, 'a non-empty slice', `[${cut.start}, ${cut.end}) of ${size} on axis ${cut.axis}`);
      const op: Op = { kind: 'slice', axis: cut.axis, start: indices[0], end: indices[indices.length - 1] + 1 };
      if (i === kept.length - 1) current = this.add(node, op, [current]);
      else {
        const name = this.unique(`${node.name}:axis${cut.axis}`);
        this.pushNode({ name, op, inputs: [current] });
        current = name;
      }
    });
  }

  /**
   * A Reshape target as graph ReshapeDims. Computed at this size from shape arithmetic: NaN is the
   * batch, 0 copies an input dim. Literal (baked in by the export): generalised at the export size
   * by matching its leading and trailing dims against the input's there, so that a channel shuffle
   * [1, 48, 28, 28] -> [1, 2, 24, 28, 28] becomes [N, 2, 24, H, W], and one remaining middle dim
   * becomes -1 ([1, 48, 784] from [1, 48, 28, 28] -> [N, C, -1]).
   */
  private reshapeTarget(index: number, input: Shape, value: { value: Const; literal: boolean }): ReshapeDim[] {
    const raw = listOf(value.value).map((d, i): ReshapeDim => (Number.isNaN(d) ? { input: 0 } : d === 0 ? { input: i } : d));
    if (!value.literal) return raw;
    const recorded = this.options.reshapeTargets.get(index);
    if (recorded && !this.options.record) return recorded;
    const from = [1, ...input.dims];
    const target = raw.map((d) => (typeof d === 'number' ? d : from[d.input])) as number[];
    const out: ReshapeDim[] = [...raw];
    out[0] = { input: 0 };
    let prefix = 1;
    while (prefix < target.length && prefix < from.length && target[prefix] === from[prefix]) out[prefix] = { input: prefix++ };
    let suffix = 0;
    while (suffix < target.length - prefix && suffix < from.length - prefix && target[target.length - 1 - suffix] === from[from.length - 1 - suffix]) {
      out[target.length - 1 - suffix] = { input: from.length - 1 - suffix };
      suffix++;
    }
    const middle = target.length - prefix - suffix;
    if (middle === 1 && !target.includes(-1)) out[prefix] = -1;
    if (this.options.record) this.options.reshapeTargets.set(index, out);
    return out;
  }

  private reshape(node: NodeProto, index: number): void {
    const input = this.tensor(node);
    const value = this.value(node, 1);
    if (value?.kind !== 'const') throw this.error(node, 'a target shape known at import (a constant or shape arithmetic)', 'a tensor computed from the image');
    this.add(node, { kind: 'reshape', shape: this.reshapeTarget(index, this.shapeOfNode(input), value) }, [input]);
  }

  private flatten(node: NodeProto, a: Attributes): void {
    const input = this.tensor(node);
    const shape = this.shapeOfNode(input);
    const axis = this.axis(node, a.int('axis', 1), rankOf(shape) + 1);
    // Flatten makes 2-D [prod(dims before axis), prod(rest)]: only per image when nothing but the batch comes before.
    if (axis === 0 || shape.dims.slice(0, axis - 1).some((d) => d !== 1)) throw this.error(node, 'a Flatten that keeps the batch first (axis 1)', `axis ${a.int('axis', 1)} of ${describeShape(shape)}`);
    this.add(node, { kind: 'flatten' }, [input]);
  }

  private layerNorm(node: NodeProto, a: Attributes): void {
    const input = this.tensor(node);
    const axis = this.axis(node, a.int('axis', -1), rankOf(this.shapeOfNode(input)));
    if (axis === 0) throw this.error(node, 'normalisation over axes after the batch', 'axis 0');
    const scale = this.optionalConstant(node, 1, 'the scale');
    const bias = this.optionalConstant(node, 2, 'the bias');
    this.add(node, { kind: 'layerNorm', axis, epsilon: a.float('epsilon', 1e-5), ...(scale ? { scale: asFloat32(scale.values) } : {}), ...(bias ? { bias: asFloat32(bias.values) } : {}) }, [input]);
  }

  private softmax(node: NodeProto, a: Attributes): void {
    const input = this.tensor(node);
    const shape = this.shapeOfNode(input);
    const rank = rankOf(shape);
    const axis = this.axis(node, a.int('axis', this.options.opset >= 13 ? -1 : 1), rank);
    // Before opset 13 Softmax flattened everything from `axis` on: the same only over the last axis.
    if (this.options.opset < 13 && shape.dims.slice(axis).some((d) => d !== 1)) throw this.error(node, 'softmax over one axis', `a flattened softmax from axis ${axis} of ${describeShape(shape)}`);
    this.add(node, { kind: 'softmax', axis }, [input]);
  }

  private clip(node: NodeProto, a: Attributes): void {
    const scalar = (index: number, fallback: number) => this.optionalConstant(node, index, 'the bound')?.values[0] ?? fallback;
    const min = a.has('min') ? a.float('min', -Infinity) : scalar(1, -Infinity);
    const max = a.has('max') ? a.float('max', Infinity) : scalar(2, Infinity);
    this.add(node, min === 0 && max === Infinity ? { kind: 'relu' } : { kind: 'clip', min, max }, [this.tensor(node)]);
  }

  private pad(node: NodeProto, a: Attributes): void {
    const mode = a.string('mode', 'constant');
    const p = a.has('pads') ? a.ints('pads', []) : listOf(this.constant(node, 1, 'pads'));
    const value = a.has('value') ? a.float('value', 0) : (this.optionalConstant(node, 2, 'the pad value')?.values[0] ?? 0);
    if (mode !== 'constant' || value !== 0) throw this.error(node, 'constant padding with 0', `mode ${mode}, value ${value}`);
    if (p.length !== 8 || p[0] || p[1] || p[4] || p[5] || p.some((x) => x < 0)) throw this.error(node, 'non-negative pads of the spatial dims only (8 values, N and C zero)', `[${p}]`);
    this.add(node, { kind: 'pad', pads: [p[2], p[3], p[6], p[7]] }, [this.tensor(node)]);
  }

  /** Converts one node; in a lenient conversion, a node that cannot run at this size is left out. */
  convertLenient(node: NodeProto, index: number): void {
    if (!this.options.lenient) return this.convert(node, index);
    const name = node.name || node.output?.[0] || node.opType || 'node';
    const leaveOut = (error: Error) => {
      this.invalid.set(name, error);
      for (const output of node.output ?? []) if (output) this.values.set(output, { kind: 'invalid', node: name, error });
    };
    const cause = (node.input ?? []).map((input) => this.values.get(input)).find((v) => v?.kind === 'invalid');
    if (cause?.kind === 'invalid') return leaveOut(cause.error);
    try {
      this.convert(node, index);
    } catch (error) {
      if (!(error instanceof FilterAtlasError)) throw error;
      leaveOut(error);
    }
  }

  convert(node: NodeProto, index: number): void {
    const a = attributesOf(node);
    if (this.tryFold(node, a)) return;
    const simple = (op: Op) => void this.add(node, op, [this.tensor(node)]);
    switch (node.opType) {
      case 'Conv':
        return this.conv(node, a);
      case 'Gemm':
        return this.gemm(node, a);
      case 'MatMul':
        return this.matMul(node);
      case 'BatchNormalization': {
        const input = this.tensor(node);
        const v = [1, 2, 3, 4].map((i) => asFloat32(this.constant(node, i, ['scale', 'bias', 'mean', 'variance'][i - 1]).values));
        return void this.add(node, { kind: 'batchNorm', scale: v[0], bias: v[1], mean: v[2], variance: v[3], epsilon: a.float('epsilon', 1e-5) }, [input]);
      }
      case 'LayerNormalization':
        return this.layerNorm(node, a);
      case 'Relu':
        return simple({ kind: 'relu' });
      case 'LeakyRelu':
        return simple({ kind: 'leakyRelu', alpha: a.float('alpha', 0.01) });
      case 'Clip':
        return this.clip(node, a);
      case 'Sigmoid':
      case 'Tanh':
      case 'Erf':
      case 'Softplus':
      case 'Sqrt':
      case 'Reciprocal':
      case 'Neg':
      case 'HardSwish':
        return simple({ kind: (node.opType[0].toLowerCase() + node.opType.slice(1)) as 'sigmoid' });
      case 'HardSigmoid':
        return simple({ kind: 'hardSigmoid', alpha: a.float('alpha', 0.2), beta: a.float('beta', 0.5) });
      case 'Gelu':
        return simple({ kind: 'gelu', approximate: a.string('approximate', 'none') === 'tanh' ? 'tanh' : 'none' });
      case 'Pow': {
        const exponent = this.constant(node, 1, 'the exponent');
        if (exponent.values.length !== 1) throw this.error(node, 'a scalar exponent', `dims [${exponent.dims}]`);
        return simple({ kind: 'pow', exponent: exponent.values[0] });
      }
      case 'Add':
      case 'Sum':
        return this.arithmetic(node, 'add');
      case 'Sub':
      case 'Mul':
      case 'Div':
        return this.arithmetic(node, node.opType.toLowerCase() as 'sub' | 'mul' | 'div');
      case 'MaxPool':
        return this.pool(node, a, 'maxPool');
      case 'AveragePool':
        return this.pool(node, a, 'avgPool');
      case 'GlobalAveragePool':
        return simple({ kind: 'globalAvgPool' });
      case 'Pad':
        return this.pad(node, a);
      case 'ReduceMean':
        return this.reduce(node, a, 'reduceMean');
      case 'ReduceSum':
        return this.reduce(node, a, 'reduceSum');
      case 'Transpose': {
        const rank = rankOf(this.shapeOfNode(this.tensor(node)));
        return simple({ kind: 'transpose', perm: a.ints('perm', Array.from({ length: rank }, (_, i) => rank - 1 - i)) });
      }
      case 'Reshape':
        return this.reshape(node, index);
      case 'Flatten':
        return this.flatten(node, a);
      case 'Squeeze':
        return this.squeezeLike(node, a, 'squeeze');
      case 'Unsqueeze':
        return this.squeezeLike(node, a, 'unsqueeze');
      case 'Split':
        return this.split(node, a);
      case 'Slice':
        return this.slice(node);
      case 'Concat': {
        const inputs = (node.input ?? []).map((_, i) => this.tensor(node, i));
        return void this.add(node, { kind: 'concat', axis: this.axis(node, a.int('axis', 1), rankOf(this.shapeOfNode(inputs[0]))) }, inputs);
      }
      case 'Softmax':
        return this.softmax(node, a);
      case 'Cast': {
        if ([1, 10, 11, 16].includes(a.int('to', 1))) return this.alias(node, 0); // float to float: nothing to do in float32
        throw this.error(node, 'a cast to a float type', `a cast of a computed tensor to type ${a.int('to', 1)}`);
      }
      case 'Dropout':
      case 'Identity':
        return this.alias(node, 0);
      default:
        throw this.error(node, `a supported op (${SUPPORTED_ONNX_OPS.join(', ')})`, `unsupported op ${node.opType}`, 'Export the model with supported ops, or ask for the op to be supported.');
    }
  }

  outputOf(tensor: string): string {
    const value = this.values.get(tensor);
    if (value?.kind === 'invalid') return value.node;
    if (value?.kind !== 'tensor') throw userError({ where: `${this.options.file} output ${JSON.stringify(tensor)}`, expected: 'a tensor computed from the image', received: value?.kind ?? 'none' });
    return value.node;
  }
}

/** Converts the ONNX nodes at one image size. */
export function convertNodes(onnxNodes: NodeProto[], outputName: string, options: ConvertOptions): Converted {
  const converter = new Converter(options);
  // Readers of each ONNX tensor, so a MatMul's bias folds only when the Add is its sole reader.
  const readers = new Map<string, NodeProto[]>();
  for (const node of onnxNodes) for (const input of node.input ?? []) if (input) readers.set(input, [...(readers.get(input) ?? []), node]);
  converter.pendingReaders = readers;
  onnxNodes.forEach((node, index) => converter.convertLenient(node, index));
  return { nodes: converter.nodes, shapes: converter.shapes, output: converter.outputOf(outputName), invalid: converter.invalid };
}
