/**
 * Module paths for ONNX exports: torch.onnx.export names nodes after the module that made them
 * (`/layer4/layer4.1/conv2/Conv`), so `layer4.1` can address the output of that block, as a
 * forward hook on `model.layer4[1]` would in PyTorch. Each module's output is the last node in its
 * scope whose result is read outside it (or is the model output); it gets the module path as an alias.
 */
import type { GraphNode } from './graph.js';

/** `/features/features.8/features.8.2/Mul` -> ['features', 'features.8', 'features.8.2']. */
export function modulePaths(nodeName: string): string[] {
  if (!nodeName.startsWith('/')) return [];
  const segments = nodeName.split('/').slice(1, -1);
  const paths: string[] = [];
  let path = '';
  let last = '';
  for (const segment of segments) {
    // A Sequential's child is written "<parent attribute>.<index>" below the parent's own segment.
    path = last && segment.startsWith(`${last}.`) ? `${path}${segment.slice(last.length)}` : path ? `${path}.${segment}` : segment;
    last = segment;
    paths.push(path);
  }
  return paths;
}

/** Adds module-path aliases to the nodes that output a module (names already in use are skipped). */
export function addModuleAliases(nodes: GraphNode[], output: string): void {
  const taken = new Set(nodes.flatMap((n) => [n.name, ...(n.aliases ?? [])]));
  const pathsOf = new Map(nodes.map((n) => [n.name, new Set(modulePaths(n.name))]));
  const readers = new Map<string, string[]>();
  for (const node of nodes) for (const input of node.inputs) readers.set(input, [...(readers.get(input) ?? []), node.name]);
  const outputs = new Map<string, GraphNode>();
  for (const node of nodes) {
    if (node.op.kind === 'constant') continue;
    for (const path of pathsOf.get(node.name)!) {
      const leaves = node.name === output || (readers.get(node.name) ?? []).some((reader) => !pathsOf.get(reader)!.has(path));
      if (leaves) outputs.set(path, node); // later nodes win: the last one leaving the scope
    }
  }
  for (const [path, node] of outputs) {
    if (taken.has(path)) continue;
    node.aliases = [...(node.aliases ?? []), path];
    taken.add(path);
  }
}
