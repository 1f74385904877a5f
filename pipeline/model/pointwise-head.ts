/**
 * A layer that is a pointwise linear map of one computed input: a 1x1 conv with stride 1, no padding
 * and one group (a class head such as darknet-tiny's conv2d_16). The mean over space of its output is
 * W . mean(input) + b, so a channel-mean objective there needs only its input's channel means: the
 * engine's gradient programs skip the head's conv over the whole feature map (engine/ort/programs.ts),
 * and the FLOP counts follow (flops.ts).
 */
import { INPUT, type GraphNode } from './graph.js';
import type { SizedGraph } from './sized.js';

export interface PointwiseHead {
  /** The node the head reads. */
  input: GraphNode;
  /** out x in, row-major (the conv's OIHW kernel with H = W = 1). */
  weight: Float32Array;
  bias?: Float32Array;
  outChannels: number;
  inChannels: number;
}

export function pointwiseHead(sized: SizedGraph, node: GraphNode): PointwiseHead | undefined {
  const { op, inputs } = node;
  if (op.kind !== 'conv' || inputs.length !== 1 || inputs[0] === INPUT || op.group !== 1 || op.autoPad) return undefined;
  const [outChannels, inChannels, kh, kw] = op.weight.shape;
  if (kh !== 1 || kw !== 1 || op.strides.some((s) => s !== 1) || op.pads.some((p) => p !== 0)) return undefined;
  if (sized.shapes.get(node.name)?.dims.length !== 3) return undefined;
  const input = sized.graph.nodes.find((n) => n.name === inputs[0]);
  if (!input || !sized.shapes.get(input.name)?.batched) return undefined;
  return { input, weight: op.weight.data, bias: op.bias, outChannels, inChannels };
}
