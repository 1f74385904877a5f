/**
 * What one filter's visualisation costs, in multiply-adds: every step of every scale runs the
 * network up to the layer (and back, about twice that again, the same for every layer). A progress
 * ETA weighs filters by it: a late layer at full size costs many times an early one at a small size,
 * so a global filters-per-second rate misjudges the rest of a build.
 */
import type { CnnModel } from '../model/graph.js';
import { findNode, inferShapes } from '../model/layers.js';
import { scaleSizes, type MethodParams } from './params.js';

/** The nodes the layer depends on, itself included. */
function ancestors(model: CnnModel, layer: string): Set<string> {
  const byName = new Map(model.graph.nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = [findNode(model.graph, layer).name];
  while (stack.length > 0) {
    const node = byName.get(stack.pop()!);
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    stack.push(...node.inputs);
  }
  return seen;
}

/** Multiply-adds of one forward pass of one image of side `size` up to the layer. */
export function forwardCost(model: CnnModel, layer: string, size: number): number {
  const shapes = inferShapes(model.graph, [size, size]);
  const needed = ancestors(model, layer);
  let total = 0;
  for (const node of model.graph.nodes) {
    if (!needed.has(node.name)) continue;
    const shape = shapes.get(node.name)!;
    const elements = shape.channels * shape.height * shape.width;
    const op = node.op;
    // A conv output element is a dot product over in/group x kh x kw inputs; other ops touch each element about once.
    if (op.kind === 'conv' || op.kind === 'dense') total += elements * op.weight.shape.slice(1).reduce((a, b) => a * b, 1);
    else total += elements;
  }
  return total;
}

/** Multiply-adds of one filter's whole schedule (every step of every scale), forward only. */
export function filterCost(model: CnnModel, layer: string, params: MethodParams): number {
  return scaleSizes(params).reduce((sum, size) => sum + params.stepsPerScale * forwardCost(model, layer, size), 0);
}
