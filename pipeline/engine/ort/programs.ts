/**
 * The two ONNX programs the engine runs, built from the model graph at one image size
 * (height and width fixed, batch dynamic):
 *  - forward: image -> the requested layers' outputs;
 *  - gradient: (image, channel weights) -> objective and d objective / d image, where
 *    objective[n] = sum_c weights[n, c] * mean over space of layer[n, c] (the value itself for
 *    (N, C) layers such as class logits).
 */
import type { CnnModel } from '../../model/graph.js';
import type { SizedGraph } from '../../model/sized.js';
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

export function buildForwardProgram(model: CnnModel, sized: SizedGraph, layers: readonly string[], batch: number | string = BATCH_DIM): ForwardProgram {
  const { graph, shapes, size } = sized;
  const targets = resolveLayers(graph, layers);
  const plan = planFor(graph, targets);
  const builder = new OnnxGraphBuilder();
  const image = builder.input('image', [batch, 3, size[0], size[1]]);
  const lowered = emitForward(builder, model, sized, plan, image, false);
  const outputs = targets.map((node) => {
    // A graph output must be a distinct tensor; Identity also keeps each output's own name.
    const output = builder.op('Identity', [lowered.tensors.get(node.name)!], `output:${node.name}`);
    builder.output(output, dimsOf(shapes.get(node.name)!, batch));
    return output;
  });
  return { bytes: builder.encode(`${model.name} forward`), inputs: { image }, outputs, nodes: targets.map((n) => n.name) };
}

export function buildGradientProgram(model: CnnModel, sized: SizedGraph, layer: string, batch: number | string = BATCH_DIM): Program {
  const { graph, shapes, size } = sized;
  const [target] = resolveLayers(graph, [layer]);
  const plan = planFor(graph, [target]);
  const layerShape = shapes.get(target.name)!;
  const [channels, ...spatial] = layerShape.dims;
  const builder = new OnnxGraphBuilder();
  const image = builder.input('image', [batch, 3, size[0], size[1]]);
  const weights = builder.input('channel_weights', [batch, channels]);
  const lowered = emitForward(builder, model, sized, plan, image, true);
  const activation = lowered.tensors.get(target.name)!;

  const spatialAxes = spatial.map((_, i) => i + 2);
  const means = spatialAxes.length ? builder.op('ReduceMean', [activation], 'objective/channel_means', { axes: spatialAxes, keepdims: 0 }) : activation;
  const weighted = builder.op('Mul', [means, weights], 'objective/weighted');
  const objective = builder.op('ReduceSum', [weighted, builder.int64Tensor('objective.axes', [1])], 'objective', { keepdims: 0 });

  // d objective / d layer[n, c, h, w] = weights[n, c] / (H * W), broadcast over space.
  let dLayer = weights;
  if (spatialAxes.length) {
    const area = spatial.reduce((a, b) => a * b, 1);
    const perPixel = builder.op('Mul', [weights, builder.scalar('objective.inv_area', 1 / area)], 'objective/grad_per_pixel');
    const perChannel = builder.op('Unsqueeze', [perPixel, builder.int64Tensor('objective.spatial_axes', spatialAxes)], 'objective/grad_nc11');
    dLayer = builder.op('Expand', [perChannel, builder.int64Tensor('objective.layer_dims', [1, ...layerShape.dims])], 'objective/grad_layer');
  }

  const gradient = emitBackward(builder, sized, plan, lowered, target, dLayer, model.preprocessing.std.map((s) => 1 / s));
  builder.output(objective, [batch]);
  builder.output(gradient, [batch, 3, size[0], size[1]]);
  return { bytes: builder.encode(`${model.name} gradient of ${target.name}`), inputs: { image, weights }, outputs: [objective, gradient] };
}
