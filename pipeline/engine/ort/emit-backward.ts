/**
 * The hand-built backward pass (ONNX Runtime has no autodiff): from d objective / d layer, walk
 * the planned nodes in reverse and emit each op's input gradient by its rule (rules/), adding up
 * the contributions of a tensor read by several nodes. Shapes are static per program (height and
 * width fixed, batch dynamic), so sizes are computed here, not in the graph.
 */
import { userError } from '../../errors.js';
import { INPUT, type GraphNode, type Op } from '../../model/graph.js';
import type { SizedGraph } from '../../model/sized.js';
import type { OnnxGraphBuilder } from './onnx-builder.js';
import type { Plan } from './plan.js';
import { lowerContext, type Lowered } from './emit-forward.js';
import { perChannel, type GradientForms, type OrtRule } from './rules/context.js';
import { DIFFERENTIABLE_OPS, ORT_RULES } from './rules/index.js';

export { DIFFERENTIABLE_OPS };

function unsupported(node: GraphNode, layer: string): Error {
  return userError({
    where: `model node ${JSON.stringify(node.name)} (op ${node.op.kind}) on the path to layer ${JSON.stringify(layer)}`,
    expected: `ops the onnxruntime engine can differentiate (${DIFFERENTIABLE_OPS.join(', ')})`,
    received: `op ${node.op.kind}`,
    fix: 'Pick a layer before it, or use --engine tfjs, which differentiates any op it can run',
  });
}

/** Where the backward pass ends: at the image (through the preprocessing), or at an earlier node's output. */
export type BackwardEnd = { invStd: readonly number[] } | { stopAt: string };

/**
 * Emits d objective / d image (or d objective / d `stopAt`'s output) for `layerNode`, given
 * d objective / d layer output. Returns the gradient tensor. `forms`: see GradientForms (a
 * `maxPoolGradient` of `indices` needs the forward emitted with max-pool indices).
 */
export function emitBackward(builder: OnnxGraphBuilder, sized: SizedGraph, plan: Plan, lowered: Lowered, layerNode: GraphNode, dLayer: string, end: BackwardEnd, forms: GradientForms): string {
  const contributions = new Map<string, string[]>([[layerNode.name, [dLayer]]]);
  const gradientOf = (name: string): string | undefined => {
    const parts = contributions.get(name);
    if (!parts) return undefined;
    return parts.length === 1 ? parts[0] : builder.sum(parts, `${name}/grad_total`);
  };
  const computed = (name: string) => name === INPUT || sized.shapes.get(name)!.batched;
  // Check the whole path first so an unsupported op fails before any node is emitted.
  for (const node of plan.nodes) {
    const op = lowered.ops.get(node.name);
    if (op && computed(node.name) && !(DIFFERENTIABLE_OPS as readonly string[]).includes(op.kind)) throw unsupported(node, layerNode.name);
  }
  const stopAt = 'stopAt' in end ? end.stopAt : undefined;
  for (const node of [...plan.nodes].reverse()) {
    // Every reader of `stopAt` comes after it: once there, its gradient is complete.
    if (node.name === stopAt) break;
    const op = lowered.ops.get(node.name);
    const dy = op && gradientOf(node.name);
    if (!op || dy === undefined) continue;
    const inputs = lowered.inputs.get(node.name)!;
    const rule = ORT_RULES[op.kind] as OrtRule<Op['kind']>;
    const grads = rule.backward!(op, {
      ...lowerContext(builder, sized, lowered, node.name, true),
      output: lowered.tensors.get(node.name)!,
      dy,
      needs: inputs.map(computed),
      poolIndices: () => lowered.poolIndices.get(node.name)!,
      maxPoolGradient: forms.maxPoolGradient,
      leakyReluSlope: forms.leakyReluSlope,
    });
    grads.forEach((dx, i) => {
      if (dx !== undefined) contributions.set(inputs[i], [...(contributions.get(inputs[i]) ?? []), dx]);
    });
  }
  if ('stopAt' in end) {
    const dStop = gradientOf(end.stopAt);
    if (dStop === undefined) throw new Error(`layer ${layerNode.name} does not depend on ${end.stopAt}`);
    return dStop;
  }
  const dModelInput = gradientOf(INPUT);
  if (dModelInput === undefined) throw new Error(`layer ${layerNode.name} does not depend on the model input`);
  return builder.op('Mul', [dModelInput, perChannel(builder, 'preprocess.grad_inv_std', end.invStd)], 'image/grad');
}
