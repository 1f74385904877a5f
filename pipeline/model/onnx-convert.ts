/**
 * ONNX nodes -> model graph nodes, for one image size: the walk. Values known at import (initializers,
 * Constant nodes, and shape arithmetic on the now-known tensor shapes) are folded
 * (onnx-fold.ts); every other node becomes a graph node (onnx-ops.ts, one rule per op), checked by its
 * shape rule as it is added. Reshape targets that torch.onnx.export baked in at the export size are
 * generalised once at that size (onnx-sizes.ts) so that the same graph holds at the ascent's other sizes.
 */
import { FilterAtlasError, userError } from '../errors.js';
import { INPUT, type GraphNode, type Op } from './graph.js';
import type { ConvertContext, ConvertOptions, NodeProto, Value } from './onnx-context.js';
import { BATCH, FOLD_RULES, makeConst, type Const } from './onnx-fold.js';
import { convertOp } from './onnx-ops.js';
import { asFloat32, attributesOf, decodeTensor, type Attributes } from './onnx-values.js';
import { inputShape, nodeShape, type Shape } from './shapes.js';

export interface Converted {
  nodes: GraphNode[];
  shapes: Map<string, Shape>;
  output: string;
  /** Nodes left out at this size (lenient conversions), by name, with the reason. */
  invalid: Map<string, Error>;
}

class Converter implements ConvertContext {
  readonly nodes: GraphNode[] = [];
  readonly shapes = new Map<string, Shape>();
  readonly values = new Map<string, Value>();
  private readonly names = new Set<string>([INPUT]);
  private readonly constantNodes = new Map<string, string>();
  readonly invalid = new Map<string, Error>();
  /** Readers of each ONNX tensor (set by convertNodes): a MatMul's bias folds only into its sole reader. */
  pendingReaders = new Map<string, NodeProto[]>();

  constructor(readonly options: ConvertOptions) {
    for (const [name, value] of options.initializers) this.values.set(name, { kind: 'const', value, literal: true });
    this.values.set(options.inputName, { kind: 'tensor', node: INPUT });
    this.shapes.set(INPUT, inputShape({ inputChannels: 3, nodes: [], output: INPUT }, options.size));
  }

  error(node: NodeProto, expected: string, received: string, fix?: string): Error {
    return userError({ where: `${this.options.file} node ${JSON.stringify(node.name ?? '')} (${node.opType})`, expected, received, fix });
  }

  value(node: NodeProto, index: number): Value | undefined {
    const tensor = node.input?.[index] ?? '';
    if (!tensor) return undefined;
    const value = this.values.get(tensor);
    if (!value) throw this.error(node, `input ${index} computed by an earlier node`, `unknown tensor ${JSON.stringify(tensor)}`);
    if (value.kind === 'secondary') throw this.error(node, `input ${index} to be the first output of its node`, `${JSON.stringify(tensor)}, a secondary output (e.g. MaxPool indices)`);
    return value;
  }

  /** Graph node computing input `index` (a computed tensor; constants refused). */
  tensor(node: NodeProto, index = 0): string {
    const value = this.value(node, index);
    if (value?.kind !== 'tensor') throw this.error(node, `input ${index} computed from the image`, value ? 'a constant' : 'none');
    return value.node;
  }

  shapeOfNode(name: string): Shape {
    return this.shapes.get(name)!;
  }

  /** A known input (initializer, Constant, or folded shape arithmetic). */
  constant(node: NodeProto, index: number, what: string): Const {
    const value = this.value(node, index);
    if (value?.kind !== 'const') throw this.error(node, `${what} (input ${index}) known at import (an initializer, a Constant or shape arithmetic)`, value ? 'a tensor computed from the image' : 'none');
    return value.value;
  }

  optionalConstant(node: NodeProto, index: number, what: string): Const | undefined {
    return node.input?.[index] ? this.constant(node, index, what) : undefined;
  }

  /** A computed input, or a constant input as a `constant` graph node (one per constant tensor). */
  operand(node: NodeProto, index: number): string {
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

  unique(base: string): string {
    let name = base;
    for (let i = 1; this.names.has(name); i++) name = `${base}_${i}`;
    this.names.add(name);
    return name;
  }

  pushNode(node: GraphNode): void {
    this.shapes.set(node.name, nodeShape(node, node.inputs.map((i) => this.shapeOfNode(i)), this.options.size));
    this.nodes.push(node);
  }

  /** Adds the node's graph node; its first output now names it, later outputs are refused if read. */
  add(node: NodeProto, op: Op, inputs: string[], name = this.unique(node.name || node.output?.[0] || node.opType || 'node')): string {
    this.pushNode({ name, op, inputs });
    this.values.set(node.output?.[0] ?? name, { kind: 'tensor', node: name });
    for (const extra of (node.output ?? []).slice(1)) if (extra) this.values.set(extra, { kind: 'secondary' });
    return name;
  }

  alias(node: NodeProto, index: number): void {
    const value = this.value(node, index);
    if (value) this.values.set(node.output?.[0] ?? '', value);
  }

  /** Full-shape axis, negative counted from the end. */
  axis(node: NodeProto, axis: number, rank: number): number {
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
    convertOp(this, node, a, index);
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
