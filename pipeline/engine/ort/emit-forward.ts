/**
 * Lowers the model graph's forward pass to ONNX nodes: preprocessing first (so engine inputs are
 * RGB in [0, 1]), then every planned node by its rule (rules/). Records what the backward pass
 * needs: each node's output tensor, the effective (BatchNorm-folded) conv, and max-pool indices.
 */
import { INPUT, type CnnModel, type GraphNode, type Op } from '../../model/graph.js';
import type { SizedGraph } from '../../model/sized.js';
import type { Shape } from '../../model/shapes.js';
import type { OnnxGraphBuilder } from './onnx-builder.js';
import { foldBatchNorm, type Plan } from './plan.js';
import { perChannel, type LowerContext } from './rules/context.js';
import { ORT_RULES } from './rules/index.js';
import type { OrtRule } from './rules/context.js';

export interface Lowered {
  /** Model node name (and INPUT) -> tensor holding its output. */
  tensors: Map<string, string>;
  /** Node name -> the op actually emitted for it (a BatchNorm that absorbed its conv maps to the folded conv). */
  ops: Map<string, Op>;
  /** Node name -> its effective inputs (a folded BatchNorm reads its conv's input). */
  inputs: Map<string, string[]>;
  /** Max-pool node name -> its indices tensor (only when requested). */
  poolIndices: Map<string, string>;
  /** The image input (RGB [0, 1]) and the preprocessed model input. */
  image: string;
  modelInput: string;
}

/** The lowering context of one node (shared with the backward pass, which extends it). */
export function lowerContext(builder: OnnxGraphBuilder, sized: SizedGraph, lowered: Lowered, name: string, withIndices: boolean): LowerContext {
  const inputs = lowered.inputs.get(name)!;
  return {
    builder,
    name,
    inputs: inputs.map((input) => lowered.tensors.get(input)!),
    inShapes: inputs.map((input) => sized.shapes.get(input)!),
    outShape: sized.shapes.get(name)!,
    withIndices,
    setPoolIndices: (indices) => lowered.poolIndices.set(name, indices),
  };
}

/**
 * Emits preprocessing and the planned nodes. `withIndices`: max pools also output their
 * argmax indices (the backward pass needs them; the plain forward does not).
 */
export function emitForward(builder: OnnxGraphBuilder, model: CnnModel, sized: SizedGraph, plan: Plan, image: string, withIndices: boolean, nodes: readonly GraphNode[] = plan.nodes): Lowered {
  const { mean, std } = model.preprocessing;
  const centred = builder.op('Sub', [image, perChannel(builder, 'preprocess.mean', mean)], 'preprocess/centred');
  const modelInput = builder.op('Mul', [centred, perChannel(builder, 'preprocess.inv_std', std.map((s) => 1 / s))], 'preprocess/output');
  const lowered: Lowered = { tensors: new Map([[INPUT, modelInput]]), ops: new Map(), inputs: new Map(), poolIndices: new Map(), image, modelInput };
  emitNodes(builder, sized, plan, lowered, nodes, withIndices);
  return lowered;
}

/**
 * Emits `nodes` (planned nodes, in topological order) into `lowered`, reading their inputs from
 * `lowered.tensors`. emitForward emits a whole plan; a program may emit a plan in parts (the
 * attribution of rows emits the prefix on the images and the rest on gathered rows).
 */
export function emitNodes(builder: OnnxGraphBuilder, sized: SizedGraph, plan: Plan, lowered: Lowered, nodes: readonly GraphNode[], withIndices: boolean): void {
  for (const node of nodes) {
    if (plan.folded.has(node.name)) continue;
    const producer = plan.foldedInto.get(node.name);
    const op: Op = producer?.op.kind === 'conv' && node.op.kind === 'batchNorm' ? foldBatchNorm(producer.op, node.op) : node.op;
    lowered.ops.set(node.name, op);
    lowered.inputs.set(node.name, producer ? producer.inputs : node.inputs);
    const rule = ORT_RULES[op.kind] as OrtRule<Op['kind']>;
    lowered.tensors.set(node.name, rule.forward(op, lowerContext(builder, sized, lowered, node.name, withIndices)));
  }
}

/** Static dims of a node's output for value infos, with the batch dim as given. */
export function dimsOf(shape: Shape, batch: number | string): (number | string)[] {
  return [batch, ...shape.dims];
}
