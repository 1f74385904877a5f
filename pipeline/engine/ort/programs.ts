/**
 * The two ONNX programs the engine runs, built from the model graph for one image size
 * (height and width fixed, batch dynamic):
 *  - forward: image -> the requested layers' outputs;
 *  - gradient: (image, channel weights) -> objective and d objective / d image, where
 *    objective[n] = sum_c weights[n, c] * mean over space of layer[n, c].
 */
import type { CnnModel, Pair } from '../../model/graph.js';
import { inferShapes } from '../../model/layers.js';
import { emitBackward } from './emit-backward.js';
import { dimsOf, emitForward } from './emit-forward.js';
import { OnnxGraphBuilder } from './onnx-builder.js';
import { planFor, resolveLayers } from './plan.js';

/** The symbolic batch dimension: one session serves every batch size. */
export const BATCH_DIM = 'N';

export interface Program {
  bytes: Uint8Array;
  inputs: { image: string; weights?: string };
  /** Graph output names; for forward, one per requested node, in request order (deduplicated by node). */
  outputs: string[];
}

export interface ForwardProgram extends Program {
  /** Node name for each output. */
  nodes: string[];
}

export function buildForwardProgram(model: CnnModel, layers: readonly string[], size: Pair, batch: number | string = BATCH_DIM): ForwardProgram {
  const targets = resolveLayers(model.graph, layers);
  const plan = planFor(model.graph, targets);
  const shapes = inferShapes(model.graph, size);
  const builder = new OnnxGraphBuilder();
  const image = builder.input('image', [batch, 3, size[0], size[1]]);
  const lowered = emitForward(builder, model, plan, image, false);
  const outputs = targets.map((node) => {
    // A graph output must be a distinct tensor; Identity also keeps each output's own name.
    const output = builder.op('Identity', [lowered.tensors.get(node.name)!], `output:${node.name}`);
    builder.output(output, dimsOf(shapes.get(node.name)!, batch));
    return output;
  });
  return { bytes: builder.encode(`${model.name} forward`), inputs: { image }, outputs, nodes: targets.map((n) => n.name) };
}

export function buildGradientProgram(model: CnnModel, layer: string, size: Pair, batch: number | string = BATCH_DIM): Program {
  const [target] = resolveLayers(model.graph, [layer]);
  const plan = planFor(model.graph, [target]);
  const shapes = inferShapes(model.graph, size);
  const layerShape = shapes.get(target.name)!;
  const builder = new OnnxGraphBuilder();
  const image = builder.input('image', [batch, 3, size[0], size[1]]);
  const weights = builder.input('channel_weights', [batch, layerShape.channels]);
  const lowered = emitForward(builder, model, plan, image, true);
  const activation = lowered.tensors.get(target.name)!;

  const means = builder.op('ReduceMean', [activation], 'objective/channel_means', { axes: [2, 3], keepdims: 0 });
  const weighted = builder.op('Mul', [means, weights], 'objective/weighted');
  const objective = builder.op('ReduceSum', [weighted, builder.int64Tensor('objective.axes', [1])], 'objective', { keepdims: 0 });

  // d objective / d layer[n, c, h, w] = weights[n, c] / (H * W), broadcast over space.
  const area = layerShape.height * layerShape.width;
  const perPixel = builder.op('Mul', [weights, builder.scalar('objective.inv_area', 1 / area)], 'objective/grad_per_pixel');
  const perChannel = builder.op('Unsqueeze', [perPixel, builder.int64Tensor('objective.spatial_axes', [2, 3])], 'objective/grad_nc11');
  const layerDims = builder.int64Tensor('objective.layer_dims', [1, layerShape.channels, layerShape.height, layerShape.width]);
  const dLayer = builder.op('Expand', [perChannel, layerDims], 'objective/grad_layer');

  const gradient = emitBackward(builder, plan, lowered, shapes, target, dLayer, model.preprocessing.std.map((s) => 1 / s));
  builder.output(objective, [batch]);
  builder.output(gradient, [batch, 3, size[0], size[1]]);
  return { bytes: builder.encode(`${model.name} gradient of ${target.name}`), inputs: { image, weights }, outputs: [objective, gradient] };
}
