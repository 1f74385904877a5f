/**
 * What one filter's visualisation costs, in activation values computed: every step of every scale
 * runs the network up to the layer and back, so the cost is the sum over steps and scales of the
 * output sizes of every node up to the layer (pixels x steps x depth, with each node's real size).
 * A progress ETA weighs filters by it: a late layer at full size costs many times an early one at a
 * small size, so a global filters-per-second rate misjudges the rest of a build.
 *
 * Why values and not multiply-adds: measured here (default.yaml schedule, 16 filters per layer,
 * seconds per filter, two rounds on a loaded 2-core machine) darknet-tiny's leaky_re_lu_2 :
 * leaky_re_lu_6 : leaky_re_lu_10 : conv2d_16 took 1 : 1.7 : 1.6 : 6.1-6.8; activation values predict
 * 1 : 1.8 : 2.2 : 6.5, multiply-adds 1 : 2.6 : 4.2 : 17 (the engine is bound by memory traffic on
 * small layers more than by arithmetic).
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

/** Activation values of one forward pass of one image of side `size` up to the layer. */
export function forwardCost(model: CnnModel, layer: string, size: number): number {
  const shapes = inferShapes(model.graph, [size, size]);
  const needed = ancestors(model, layer);
  let total = 0;
  for (const name of needed) {
    const shape = shapes.get(name)!;
    total += shape.channels * shape.height * shape.width;
  }
  return total;
}

/** Activation values of one filter's whole schedule (every step of every scale), forward only. */
export function filterCost(model: CnnModel, layer: string, params: MethodParams): number {
  return scaleSizes(params).reduce((sum, size) => sum + params.stepsPerScale * forwardCost(model, layer, size), 0);
}
