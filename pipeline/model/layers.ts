/**
 * Addressing layers (names, aliases, the `#` index of `filter-atlas layers`) and what a layer is
 * for the pipeline: a feature map to visualise and probe, with its receptive field.
 */
import { userError } from '../errors.js';
import { didYouMean } from '../util/suggest.js';
import type { CnnModel, Graph, GraphNode, Op, Pair } from './graph.js';
import { modulePaths } from './onnx-scopes.js';
import { graphAtSize, type SizedGraph } from './sized.js';
import { describeShape, inferShapes, isFeatureMap } from './shapes.js';

export { inferShapes, type Shape } from './shapes.js';

export interface LayerInfo {
  index: number;
  name: string;
  aliases: string[];
  kind: Op['kind'];
  channels: number;
}

/**
 * Finds a node by name or alias, or by its `#` index in `filter-atlas layers` (a plain integer that
 * is not itself a name or alias). The error suggests the closest names.
 */
export function findNode(graph: Graph, layer: string): GraphNode {
  const node = graph.nodes.find((n) => n.name === layer || n.aliases?.includes(layer));
  if (node) return node;
  // A node this size's graph left out: its reason, not "no such layer".
  for (const [name, error] of graph.invalid ?? []) if (name === layer || modulePaths(name).includes(layer)) throw error;
  if (/^\d+$/.test(layer) && Number(layer) < graph.nodes.length) return graph.nodes[Number(layer)];
  const names = graph.nodes.flatMap((n) => [n.name, ...(n.aliases ?? [])]);
  const suggestion = didYouMean(layer, names) || `It has ${names.slice(0, 5).map((n) => JSON.stringify(n)).join(', ')}, ...`;
  throw userError({
    where: `layer ${JSON.stringify(layer)}`,
    expected: `a layer name, alias or # index (0-${graph.nodes.length - 1}) of the model`,
    received: 'no such layer',
    fix: `${suggestion} \`filter-atlas layers <model>\` lists all ${graph.nodes.length}.`,
  });
}

/** Channels of a layer at this size; a tensor that is not a feature map (a channels-last or rank-5 intermediate) is refused by name. */
export function layerChannels(sized: SizedGraph, node: string, asked: string): number {
  const shape = sized.shapes.get(node)!;
  if (!isFeatureMap(shape)) {
    throw userError({
      where: `layer ${JSON.stringify(asked)} (${node})`,
      expected: 'a layer whose output is a feature map (N, C, H, W) or a vector per image (N, C)',
      received: `an output ${describeShape(shape)}${shape.channelAxis ? ` with channels on axis ${shape.channelAxis + 1}` : ''}`,
      fix: 'Pick the block that contains it (its module path, e.g. features.3), or a later layer back in NCHW.',
    });
  }
  return shape.dims[0];
}

/** A layer to visualise or probe: its node and channel count at the model's input size. */
export function findLayer(model: CnnModel, layer: string, size: Pair = model.preprocessing.inputSize): { node: GraphNode; channels: number } {
  const sized = graphAtSize(model, size);
  const node = findNode(sized.graph, layer);
  return { node, channels: layerChannels(sized, node.name, layer) };
}

/** The nodes a layer depends on, itself included: what runs (and is kept for the backward pass) to compute it. */
export function ancestors(graph: Graph, layer: string): Set<string> {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const seen = new Set<string>();
  const stack = [findNode(graph, layer).name];
  while (stack.length > 0) {
    const node = byName.get(stack.pop()!);
    if (!node || seen.has(node.name)) continue;
    seen.add(node.name);
    stack.push(...node.inputs);
  }
  return seen;
}

/** Every node with its channel count, in graph order. */
export function listLayers(graph: Graph, inputSize: Pair): LayerInfo[] {
  const shapes = inferShapes(graph, inputSize);
  return graph.nodes.map((node, index) => ({
    index,
    name: node.name,
    aliases: node.aliases ?? [],
    kind: node.op.kind,
    channels: shapes.get(node.name)!.channels,
  }));
}

/** Ops after which one unit sees the whole image: global pooling, a flatten, a mean or sum over H and W. */
function isGlobal(op: Op): boolean {
  if (op.kind === 'globalAvgPool' || op.kind === 'flatten') return true;
  return (op.kind === 'reduceMean' || op.kind === 'reduceSum') && op.axes.includes(2) && op.axes.includes(3);
}

/**
 * Receptive field (in input pixels) and jump (stride product) of one unit of a layer, along the
 * first input path; `global` when a unit sees the whole image (after global pooling, a flatten or a
 * spatial mean), so its dataset crops are whole images.
 */
export function receptiveField(graph: Graph, layer: string): { size: number; jump: number; global: boolean } {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const chain: GraphNode[] = [];
  for (let node: GraphNode | undefined = findNode(graph, layer); node; node = byName.get(node.inputs[0])) chain.unshift(node);
  let size = 1;
  let jump = 1;
  let global = false;
  for (const node of chain) {
    const op = node.op;
    if (isGlobal(op)) global = true;
    if (op.kind === 'conv') {
      const kernel = (op.weight.shape[2] - 1) * op.dilations[0] + 1;
      size += (kernel - 1) * jump;
      jump *= op.strides[0];
    } else if (op.kind === 'maxPool' || op.kind === 'avgPool') {
      size += (op.kernel[0] - 1) * jump;
      jump *= op.strides[0];
    }
  }
  return { size, jump, global };
}
