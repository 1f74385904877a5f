import { userError } from '../errors.js';
import { INPUT, type Graph, type GraphNode, type Op, type Pair } from './graph.js';

export interface Shape {
  channels: number;
  height: number;
  width: number;
}

export interface LayerInfo {
  index: number;
  name: string;
  aliases: string[];
  kind: Op['kind'];
  channels: number;
}

/** Finds a node by name or alias; the error lists what exists. */
export function findNode(graph: Graph, layer: string): GraphNode {
  const node = graph.nodes.find((n) => n.name === layer || n.aliases?.includes(layer));
  if (node) return node;
  const names = graph.nodes.map((n) => (n.aliases?.length ? `${n.name} (${n.aliases.join(', ')})` : n.name));
  throw userError({
    where: `layer ${JSON.stringify(layer)}`,
    expected: 'a layer name or index of the model',
    received: 'no such layer',
    fix: `Layers: ${names.join(', ')}. Run \`filter-atlas layers <model>\` for details.`,
  });
}

function poolOutput(size: number, kernel: number, stride: number, padBefore: number, padAfter: number, ceil: boolean): number {
  const span = size + padBefore + padAfter - kernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // torch rule: the last window must start inside the image or the left padding.
  if (ceil && (out - 1) * stride >= size + padBefore) out -= 1;
  return out;
}

function spatial(size: Pair, kernel: Pair, strides: Pair, pads: [number, number, number, number], ceil: boolean, dilations: Pair = [1, 1]): Pair {
  const effective: Pair = [(kernel[0] - 1) * dilations[0] + 1, (kernel[1] - 1) * dilations[1] + 1];
  return [
    poolOutput(size[0], effective[0], strides[0], pads[0], pads[2], ceil),
    poolOutput(size[1], effective[1], strides[1], pads[1], pads[3], ceil),
  ];
}

/** Output shape of every node for one input size. */
export function inferShapes(graph: Graph, inputSize: Pair): Map<string, Shape> {
  const shapes = new Map<string, Shape>([[INPUT, { channels: graph.inputChannels, height: inputSize[0], width: inputSize[1] }]]);
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((name) => {
      const shape = shapes.get(name);
      if (!shape) throw new Error(`graph node ${node.name}: input ${name} is not defined before it`);
      return shape;
    });
    const first = inputs[0];
    const op = node.op;
    let shape: Shape;
    switch (op.kind) {
      case 'conv': {
        const [h, w] = spatial([first.height, first.width], [op.weight.shape[2], op.weight.shape[3]], op.strides, op.pads, false, op.dilations);
        shape = { channels: op.weight.shape[0], height: h, width: w };
        break;
      }
      case 'maxPool':
      case 'avgPool': {
        const [h, w] = spatial([first.height, first.width], op.kernel, op.strides, op.pads, op.ceil);
        shape = { channels: first.channels, height: h, width: w };
        break;
      }
      case 'pad':
        shape = { channels: first.channels, height: first.height + op.pads[0] + op.pads[2], width: first.width + op.pads[1] + op.pads[3] };
        break;
      case 'globalAvgPool':
        shape = { channels: first.channels, height: 1, width: 1 };
        break;
      case 'flatten':
        shape = { channels: first.channels * first.height * first.width, height: 1, width: 1 };
        break;
      case 'dense':
        shape = { channels: op.weight.shape[0], height: 1, width: 1 };
        break;
      case 'concat':
        shape = { ...first, channels: inputs.reduce((sum, s) => sum + s.channels, 0) };
        break;
      default:
        shape = { ...first };
    }
    shapes.set(node.name, shape);
  }
  return shapes;
}

/** Every addressable layer with its channel count, in graph order. */
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

/** Receptive field (in input pixels) and jump (stride product) of one unit of a layer, along the first input path. */
export function receptiveField(graph: Graph, layer: string): { size: number; jump: number } {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  const chain: GraphNode[] = [];
  for (let node: GraphNode | undefined = findNode(graph, layer); node; node = byName.get(node.inputs[0])) chain.unshift(node);
  let size = 1;
  let jump = 1;
  for (const node of chain) {
    const op = node.op;
    if (op.kind === 'conv') {
      const kernel = (op.weight.shape[2] - 1) * op.dilations[0] + 1;
      size += (kernel - 1) * jump;
      jump *= op.strides[0];
    } else if (op.kind === 'maxPool' || op.kind === 'avgPool') {
      size += (op.kernel[0] - 1) * jump;
      jump *= op.strides[0];
    }
  }
  return { size, jump };
}
