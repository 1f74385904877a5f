/**
 * The graph at one input size, as engines run it: the source's graph for that size (an ONNX
 * export's shape subgraphs evaluated there) with 'same' padding resolved into explicit pads, and
 * every node's shape. The ascent changes the image size at every scale, so engines ask for each.
 */
import type { CnnModel, Graph, GraphNode, Pair } from './graph.js';
import { inferValidShapes, padsAt, type Shape } from './shapes.js';

export interface SizedGraph {
  size: Pair;
  /** The nodes that can run at this size (the others are in graph.invalid); no op has autoPad. */
  graph: Graph;
  shapes: Map<string, Shape>;
}

/** Replaces 'same' padding by the explicit pads of this size (nodes without it are shared, not copied). */
function resolvePadding(graph: Graph, shapes: Map<string, Shape>, invalid: Map<string, Error>): Graph {
  const valid = graph.nodes.filter((node) => !invalid.has(node.name));
  const nodes = valid.map((node): GraphNode => {
    const op = node.op;
    if (!('autoPad' in op) || !op.autoPad) return node;
    const [, h, w] = shapes.get(node.inputs[0])!.dims;
    const kernel: Pair = op.kind === 'conv' ? [op.weight.shape[2], op.weight.shape[3]] : op.kernel;
    const dilations: Pair = op.kind === 'conv' ? op.dilations : [1, 1];
    const { autoPad: _resolved, ...rest } = op;
    return { ...node, op: { ...rest, pads: padsAt(op, kernel, dilations, [h, w]) } };
  });
  return { ...graph, nodes, ...(invalid.size > 0 ? { invalid } : {}) };
}

export function graphAtSize(model: CnnModel, size: Pair): SizedGraph {
  const source = model.graphFor ? model.graphFor(size) : model.graph;
  const { shapes, invalid } = inferValidShapes(source, size);
  return { size, graph: resolvePadding(source, shapes, invalid), shapes };
}

/** A per-engine cache of sized graphs (engines revisit the same few sizes many times). */
export class SizedGraphs {
  private readonly bySize = new Map<string, SizedGraph>();

  constructor(private readonly model: CnnModel) {}

  at(size: Pair): SizedGraph {
    const key = size.join('x');
    let sized = this.bySize.get(key);
    if (!sized) {
      sized = graphAtSize(this.model, size);
      this.bySize.set(key, sized);
    }
    return sized;
  }
}
