/**
 * Which model nodes a program needs and how they lower: the ancestors of the requested
 * layers (nothing else is emitted, so the backward pass only covers the layer's own path),
 * who consumes each node, and which convolutions absorb the BatchNorm that follows them.
 */
import { INPUT, type Graph, type GraphNode, type Op, type Tensor } from '../../model/graph.js';
import { findNode } from '../../model/layers.js';

export type ConvOp = Extract<Op, { kind: 'conv' }>;
type BatchNormOp = Extract<Op, { kind: 'batchNorm' }>;

export interface Plan {
  /** Needed nodes in topological order. */
  nodes: GraphNode[];
  /** Node name -> names of needed nodes that read it (INPUT included as a key). */
  consumers: Map<string, string[]>;
  /** BatchNorm node name -> the conv node folded into it (the conv emits nothing of its own). */
  foldedInto: Map<string, GraphNode>;
  /** Conv node names folded into their BatchNorm. */
  folded: Set<string>;
}

/** Resolves names or aliases to nodes, one per node even if a node is requested twice. */
export function resolveLayers(graph: Graph, layers: readonly string[]): GraphNode[] {
  const seen = new Set<string>();
  const nodes: GraphNode[] = [];
  for (const layer of layers) {
    const node = findNode(graph, layer);
    if (!seen.has(node.name)) {
      seen.add(node.name);
      nodes.push(node);
    }
  }
  return nodes;
}

export function planFor(graph: Graph, targets: readonly GraphNode[]): Plan {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const needed = new Set<string>();
  const stack = targets.map((t) => t.name);
  while (stack.length > 0) {
    const name = stack.pop()!;
    if (name === INPUT || needed.has(name)) continue;
    needed.add(name);
    stack.push(...byName.get(name)!.inputs);
  }
  const nodes = graph.nodes.filter((n) => needed.has(n.name));
  const consumers = new Map<string, string[]>();
  for (const node of nodes) {
    for (const input of node.inputs) consumers.set(input, [...(consumers.get(input) ?? []), node.name]);
  }
  // Fold only when the conv's output is not needed on its own: read by the BatchNorm alone
  // (in the whole graph, so a folded conv never hides a branch) and not requested.
  const allConsumers = new Map<string, number>();
  for (const node of graph.nodes) for (const input of node.inputs) allConsumers.set(input, (allConsumers.get(input) ?? 0) + 1);
  const targetNames = new Set(targets.map((t) => t.name));
  const foldedInto = new Map<string, GraphNode>();
  const folded = new Set<string>();
  for (const node of nodes) {
    if (node.op.kind !== 'batchNorm') continue;
    const producer = byName.get(node.inputs[0]);
    if (!producer || producer.op.kind !== 'conv') continue;
    if (allConsumers.get(producer.name) !== 1 || targetNames.has(producer.name)) continue;
    foldedInto.set(node.name, producer);
    folded.add(producer.name);
  }
  return { nodes, consumers, foldedInto, folded };
}

/** Per-channel scale and shift of an inference-mode BatchNorm: y = x * scale + shift. */
export function batchNormAffine(op: BatchNormOp): { scale: Float32Array; shift: Float32Array } {
  const channels = op.scale.length;
  const scale = new Float32Array(channels);
  const shift = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    // Float64 maths here, rounded once: keeps the folded weights as close to the source as float32 allows.
    const s = op.scale[c] / Math.sqrt(op.variance[c] + op.epsilon);
    scale[c] = s;
    shift[c] = op.bias[c] - op.mean[c] * s;
  }
  return { scale, shift };
}

/** conv followed by BatchNorm as one conv: W'[o] = W[o] * s[o], b' = b * s + shift. */
export function foldBatchNorm(conv: ConvOp, bn: BatchNormOp): ConvOp {
  const { scale, shift } = batchNormAffine(bn);
  const [outChannels] = conv.weight.shape;
  const perOutput = conv.weight.data.length / outChannels;
  const weight = new Float32Array(conv.weight.data.length);
  const bias = new Float32Array(outChannels);
  for (let o = 0; o < outChannels; o++) {
    for (let i = 0; i < perOutput; i++) weight[o * perOutput + i] = conv.weight.data[o * perOutput + i] * scale[o];
    bias[o] = (conv.bias ? conv.bias[o] * scale[o] : 0) + shift[o];
  }
  const folded: Tensor = { shape: [...conv.weight.shape], data: weight };
  return { ...conv, weight: folded, bias };
}
