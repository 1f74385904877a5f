/**
 * FLOPs of the passes the engines run, counted on the model graph before anything runs (`plan`,
 * the progress ETA), with the per-node rule the engines' own counts use (engine/ort/placement.ts
 * nodeFlops): 2 x multiply-adds for convolutions and dense layers, one per output value for
 * everything else.
 *
 * The backward pass of an input gradient repeats each convolution's multiply-adds once (the
 * gradient with respect to its input is a transposed convolution of the same kernel; the weights'
 * gradient is never computed), and costs a few values per element for the element-wise ops (the
 * mask or derivative, the product, the sum of branches). Two things ONNX Runtime's CPU programs do
 * are counted as they run: batch norms are folded into the convolutions (no values of their own),
 * and the gradient of a convolution with fewer than 16 input channels (the image's 3) runs at 16,
 * the channel block of its NCHWc kernels (measured on darknet-tiny: 14.5 of the 22 MFLOP of
 * leaky_re_lu_2's backward pass at 56 px). A pointwise head's gradient is counted as its programs run it
 * (pointwise-head.ts: no conv over the feature map). The estimates land within a few per cent of the counts
 * of the programs that ran (test/model/flops.test.ts).
 */
import type { GraphNode } from './graph.js';
import { ancestors, findNode } from './layers.js';
import { pointwiseHead } from './pointwise-head.js';
import { elementsOf, type Shape } from './shapes.js';
import type { SizedGraph } from './sized.js';

/** Values per element of an element-wise node's backward pass: its derivative, the product and the accumulation. */
const BACKWARD_VALUES_PER_ELEMENT = 3;
/** Channel block of ONNX Runtime's NCHWc convolutions: a gradient with fewer channels runs padded to it. */
const CHANNEL_BLOCK = 16;

/** Multiply-add FLOPs (2 per multiply-add) of one image through a node, forward and backward; 0 for ops without a kernel. */
function kernelFlops(node: GraphNode, output: Shape): { forward: number; backward: number } {
  const op = node.op;
  if (op.kind === 'conv') {
    const [, perGroupIn, kh, kw] = op.weight.shape;
    const forward = 2 * elementsOf(output) * perGroupIn * kh * kw;
    const padded = op.group === 1 ? Math.max(perGroupIn, CHANNEL_BLOCK) : perGroupIn;
    return { forward, backward: (forward * padded) / perGroupIn };
  }
  if (op.kind === 'dense') {
    const flops = 2 * elementsOf(output) * op.weight.shape[1];
    return { forward: flops, backward: flops };
  }
  return { forward: 0, backward: 0 };
}

/** Forward and backward FLOPs of one image through each node that `layers` depend on. */
function passFlops(sized: SizedGraph, layers: readonly string[]): { forward: number; backward: number } {
  const needed = new Set<string>();
  for (const layer of layers) for (const name of ancestors(sized.graph, layer)) needed.add(name);
  let forward = 0;
  let backward = 0;
  for (const node of sized.graph.nodes) {
    if (!needed.has(node.name)) continue;
    const shape = sized.shapes.get(node.name)!;
    // Constants and shape arithmetic (no batch) are folded away before anything runs.
    if (!shape.batched) continue;
    if (node.op.kind === 'batchNorm') continue;
    const kernel = kernelFlops(node, shape);
    forward += kernel.forward > 0 ? kernel.forward : elementsOf(shape);
    backward += kernel.backward > 0 ? kernel.backward : BACKWARD_VALUES_PER_ELEMENT * elementsOf(shape);
  }
  return { forward, backward };
}

/** FLOPs of one image's forward pass up to `layers` (a dataset scan, a probe). */
export function forwardFlops(sized: SizedGraph, layers: readonly string[]): number {
  return passFlops(sized, layers).forward;
}

/** FLOPs of one image's objective gradient at `layer`: the forward pass and the input gradient (one optimisation step). */
export function gradientFlops(sized: SizedGraph, layer: string): number {
  const head = pointwiseHead(sized, findNode(sized.graph, layer));
  if (head) {
    // The head's conv does not run: its input's gradient, then the head on channel means (objective and gradient).
    const { forward, backward } = passFlops(sized, [head.input.name]);
    return forward + backward + 2 * 2 * head.inChannels * head.outChannels;
  }
  const { forward, backward } = passFlops(sized, [layer]);
  return forward + backward;
}

/**
 * FLOPs of `rows` attribution rows (a filter of `layer` on one image, gradient x activation at
 * `from`) sharing `images` forward passes: what the connected filters stage runs.
 */
export function rowAttributionFlops(sized: SizedGraph, layer: string, from: string, images: number, rows: number): number {
  const node = findNode(sized.graph, layer);
  const head = findNode(sized.graph, from).name === node.name ? undefined : pointwiseHead(sized, node);
  const end = head?.input.name ?? layer;
  const headFlops = head ? 2 * 2 * head.inChannels * head.outChannels : 0;
  const forward = passFlops(sized, [end]).forward;
  // The backward pass stops at `from`: the nodes `from` depends on are not differentiated.
  const before = passFlops(sized, [from]).backward;
  const backward = passFlops(sized, [end]).backward - before;
  return images * forward + rows * (backward + headFlops);
}
