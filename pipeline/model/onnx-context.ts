/**
 * What the parts of the ONNX conversion share: onnx-convert.ts walks the nodes and keeps what each ONNX
 * tensor is, onnx-ops.ts turns one op into graph nodes, onnx-sizes.ts resolves what depends on the image
 * size. Here: the options of one conversion, a tensor's value during the walk, and the walker's helpers
 * as an op rule sees them.
 */
import type pkg from 'onnx-proto';
import type { GraphNode, Op, Pair, ReshapeDim } from './graph.js';
import type { Const } from './onnx-fold.js';
import type { Shape } from './shapes.js';

export type NodeProto = pkg.onnx.INodeProto;

export type Value =
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

/** The walker (Converter in onnx-convert.ts) as the op rules see it. */
export interface ConvertContext {
  readonly options: ConvertOptions;
  readonly nodes: GraphNode[];
  readonly values: Map<string, Value>;
  /** Readers of each ONNX tensor (set by convertNodes): a MatMul's bias folds only into its sole reader. */
  readonly pendingReaders: Map<string, NodeProto[]>;
  error(node: NodeProto, expected: string, received: string, fix?: string): Error;
  /** Input `index` of the node as the walk knows it (undefined when the input is absent). */
  value(node: NodeProto, index: number): Value | undefined;
  /** Graph node computing input `index` (a computed tensor; constants refused). */
  tensor(node: NodeProto, index?: number): string;
  shapeOfNode(name: string): Shape;
  /** A known input (initializer, Constant, or folded shape arithmetic). */
  constant(node: NodeProto, index: number, what: string): Const;
  optionalConstant(node: NodeProto, index: number, what: string): Const | undefined;
  /** A computed input, or a constant input as a `constant` graph node (one per constant tensor). */
  operand(node: NodeProto, index: number): string;
  unique(base: string): string;
  pushNode(node: GraphNode): void;
  /** Adds the node's graph node; its first output now names it, later outputs are refused if read. */
  add(node: NodeProto, op: Op, inputs: string[], name?: string): string;
  alias(node: NodeProto, index: number): void;
  /** Full-shape axis, negative counted from the end. */
  axis(node: NodeProto, axis: number, rank: number): number;
}
