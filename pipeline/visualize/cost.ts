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
import { ancestors } from '../model/layers.js';
import { graphAtSize } from '../model/sized.js';
import { elementsOf } from '../model/shapes.js';
import { gradientFlops } from '../model/flops.js';
import { schedule, type Method } from '../schema/method.js';

/** Activation values of one forward pass of one image of side `size` up to the layer. */
export function forwardCost(model: CnnModel, layer: string, size: number): number {
  const { graph, shapes } = graphAtSize(model, [size, size]);
  let total = 0;
  for (const name of ancestors(graph, layer)) {
    const shape = shapes.get(name)!;
    if (shape.batched) total += elementsOf(shape);
  }
  return total;
}

/** Activation values of one filter's whole schedule (every step of every scale, every image of a group), forward only. */
export function filterCost(model: CnnModel, layer: string, method: Method): number {
  return schedule(method).reduce((sum, call) => sum + call.images * call.steps * forwardCost(model, layer, call.size), 0);
}

/**
 * FLOPs of one filter's whole schedule: every step of every scale is one objective gradient
 * (model/flops.ts), for every image of a group. What `plan` and the build's progress count.
 */
export function filterFlops(model: CnnModel, layer: string, method: Method): number {
  return schedule(method).reduce((sum, call) => sum + call.images * call.steps * gradientFlops(graphAtSize(model, [call.size, call.size]), layer), 0);
}
