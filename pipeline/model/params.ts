import type { Graph } from './graph.js';

/**
 * Number of stored weights: conv and dense kernels and biases, and all four BatchNorm
 * vectors (scale, bias, moving mean, moving variance). This is Keras' "total params",
 * i.e. what model.summary() prints (darknet-tiny 1,046,488; mobilenet-v1-0.25 475,544);
 * PyTorch's sum(p.numel() for p in parameters()) leaves out the BN statistics.
 */
export function countParameters(graph: Graph): number {
  let total = 0;
  for (const { op } of graph.nodes) {
    if (op.kind === 'conv' || op.kind === 'dense') total += op.weight.data.length + (op.bias?.length ?? 0);
    else if (op.kind === 'batchNorm') total += op.scale.length + op.bias.length + op.mean.length + op.variance.length;
  }
  return total;
}
