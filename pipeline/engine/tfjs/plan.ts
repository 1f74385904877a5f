/**
 * What the tfjs engine runs for a set of requested layers: only the nodes those layers depend
 * on, in graph order, with each conv fused with the BatchNorm and activation that follow it
 * when nothing else reads the intermediate results. Pure graph logic, no tensors.
 */
import { INPUT, type Graph, type GraphNode, type Op } from '../../model/graph.js';
import type { FusedActivation } from './conv.js';

type BatchNormOp = Extract<Op, { kind: 'batchNorm' }>;

export type Step =
  | {
      kind: 'conv';
      /** Name of the last fused node: the step's output. */
      output: string;
      input: string;
      conv: GraphNode;
      batchNorm?: { node: GraphNode; op: BatchNormOp };
      activation: FusedActivation;
    }
  | { kind: 'node'; output: string; node: GraphNode };

export interface Plan {
  steps: Step[];
  /** For each tensor name, the index of the last step that reads it (free it after that step). */
  lastUse: Map<string, number>;
  targets: Set<string>;
}

function fusable(op: Op): FusedActivation | undefined {
  if (op.kind === 'relu') return { kind: 'relu' };
  if (op.kind === 'leakyRelu') return { kind: 'leakyrelu', alpha: op.alpha };
  if (op.kind === 'clip' && op.min === 0 && op.max === 6) return { kind: 'relu6' };
  if (op.kind === 'clip' && op.min === 0 && op.max === Infinity) return { kind: 'relu' };
  return undefined;
}

/** targets: node names (not aliases), already resolved with findNode. */
export function makePlan(graph: Graph, targets: readonly string[]): Plan {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const needed = new Set<string>();
  const stack = [...targets];
  while (stack.length) {
    const name = stack.pop()!;
    if (name === INPUT || needed.has(name)) continue;
    const node = byName.get(name);
    if (!node) throw new Error(`graph: node ${name} is not defined`);
    needed.add(name);
    stack.push(...node.inputs);
  }
  const nodes = graph.nodes.filter((n) => needed.has(n.name));
  // Readers of each tensor among the needed nodes; a requested tensor counts as read too.
  const readers = new Map<string, number>();
  for (const node of nodes) for (const input of node.inputs) readers.set(input, (readers.get(input) ?? 0) + 1);
  const targetSet = new Set(targets);
  const soleReader = (name: string) => !targetSet.has(name) && readers.get(name) === 1;
  const consumer = new Map<string, GraphNode>();
  for (const node of nodes) for (const input of node.inputs) consumer.set(input, node);

  const steps: Step[] = [];
  const absorbed = new Set<string>();
  for (const node of nodes) {
    if (absorbed.has(node.name)) continue;
    if (node.op.kind !== 'conv') {
      steps.push({ kind: 'node', output: node.name, node });
      continue;
    }
    let output = node.name;
    let batchNorm: { node: GraphNode; op: BatchNormOp } | undefined;
    let activation: FusedActivation = { kind: 'linear' };
    let next = soleReader(output) ? consumer.get(output) : undefined;
    if (next && next.op.kind === 'batchNorm' && next.inputs.length === 1) {
      batchNorm = { node: next, op: next.op };
      absorbed.add(next.name);
      output = next.name;
      next = soleReader(output) ? consumer.get(output) : undefined;
    }
    const act = next && next.inputs.length === 1 ? fusable(next.op) : undefined;
    if (next && act) {
      activation = act;
      absorbed.add(next.name);
      output = next.name;
    }
    steps.push({ kind: 'conv', output, input: node.inputs[0], conv: node, batchNorm, activation });
  }

  const lastUse = new Map<string, number>();
  steps.forEach((step, i) => {
    const inputs = step.kind === 'conv' ? [step.input] : step.node.inputs;
    for (const input of inputs) lastUse.set(input, i);
  });
  return { steps, lastUse, targets: targetSet };
}
