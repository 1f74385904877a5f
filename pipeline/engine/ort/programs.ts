/**
 * The two ONNX programs the engine runs, built from the model graph at one image size
 * (height and width fixed, batch dynamic):
 *  - forward: image -> the requested layers' outputs;
 *  - gradient: (image, channel weights) -> objective and d objective / d image, where
 *    objective[n] = sum_c weights[n, c] * mean over space of layer[n, c] (the value itself for
 *    (N, C) layers such as class logits).
 */
import type { CnnModel, GraphNode } from '../../model/graph.js';
import { pointwiseHead, type PointwiseHead } from '../../model/pointwise-head.js';
import type { SizedGraph } from '../../model/sized.js';
import type { Shape } from '../../model/shapes.js';
import { emitBackward } from './emit-backward.js';
import { dimsOf, emitForward, emitNodes, type Lowered } from './emit-forward.js';
import { OnnxGraphBuilder } from './onnx-builder.js';
import { planFor, resolveLayers } from './plan.js';
import type { GradientForms } from './rules/context.js';

/** The symbolic batch dimension: one session serves every batch size. */
export const BATCH_DIM = 'N';
/** The symbolic number of rows of a rows program (rows read images of the batch by index). */
export const ROWS_DIM = 'R';

/**
 * How the programs with a backward pass are emitted for the provider that runs them. The CPU
 * provider keeps the emission the atlas pictures were made with; a GPU provider gets one whose
 * every node has a GPU kernel: max-pool gradients by window offsets (rules/max-pool-windows.ts),
 * LeakyReLU's slope by a mask, and sums as Adds.
 */
export interface EmitOptions extends GradientForms {
  /** n-ary sums (residual adds, a gradient's contributions) as binary Adds (onnx-builder.ts). */
  sumAsAdds: boolean;
  /** A pointwise head's objective from its input's channel means (model/pointwise-head.ts); off only to test it. */
  pointwiseHeads: boolean;
}

export const CPU_EMISSION: EmitOptions = { maxPoolGradient: 'indices', leakyReluSlope: 'scaled', sumAsAdds: false, pointwiseHeads: true };
export const GPU_EMISSION: EmitOptions = { maxPoolGradient: 'windows', leakyReluSlope: 'mask', sumAsAdds: true, pointwiseHeads: true };

/** The emission for a provider (see EmitOptions). */
export const emissionFor = (provider: string): EmitOptions => (provider === 'cpu' ? CPU_EMISSION : GPU_EMISSION);

export interface Program {
  bytes: Uint8Array;
  inputs: { image: string; weights?: string; layerGradient?: string; rowImages?: string };
  /** Graph output names; for forward, one per requested node, in request order (deduplicated by node). */
  outputs: string[];
}

export interface ForwardProgram extends Program {
  /** Node name for each output. */
  nodes: string[];
}

export function buildForwardProgram(model: CnnModel, sized: SizedGraph, layers: readonly string[], batch: number | string = BATCH_DIM, emission: EmitOptions = CPU_EMISSION): ForwardProgram {
  const { graph, shapes, size } = sized;
  const targets = resolveLayers(graph, layers);
  const plan = planFor(graph, targets);
  const builder = new OnnxGraphBuilder({ sumAsAdds: emission.sumAsAdds });
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

/** The channel-mean objective of a layer and its gradient with respect to the layer (see the file comment). */
function emitObjective(builder: OnnxGraphBuilder, activation: string, layerShape: Shape, weights: string): { objective: string; dLayer: string } {
  const [, ...spatial] = layerShape.dims;
  const spatialAxes = spatial.map((_, i) => i + 2);
  const means = spatialAxes.length ? builder.op('ReduceMean', [activation], 'objective/channel_means', { axes: spatialAxes, keepdims: 0 }) : activation;
  const weighted = builder.op('Mul', [means, weights], 'objective/weighted');
  const objective = builder.op('ReduceSum', [weighted, builder.int64Tensor('objective.axes', [1])], 'objective', { keepdims: 0 });
  if (spatialAxes.length === 0) return { objective, dLayer: weights };
  // d objective / d layer[n, c, h, w] = weights[n, c] / (H * W), broadcast over space.
  const area = spatial.reduce((a, b) => a * b, 1);
  const perPixel = builder.op('Mul', [weights, builder.scalar('objective.inv_area', 1 / area)], 'objective/grad_per_pixel');
  const perChannel = builder.op('Unsqueeze', [perPixel, builder.int64Tensor('objective.spatial_axes', spatialAxes)], 'objective/grad_nc11');
  const dLayer = builder.op('Expand', [perChannel, builder.int64Tensor('objective.layer_dims', [1, ...layerShape.dims])], 'objective/grad_layer');
  return { objective, dLayer };
}

/** The forward pass of what `nodes` depend on, with max-pool indices where the backward pass uses them. */
function start(model: CnnModel, sized: SizedGraph, nodes: GraphNode[], batch: number | string, emission: EmitOptions) {
  const builder = new OnnxGraphBuilder({ sumAsAdds: emission.sumAsAdds });
  const image = builder.input('image', [batch, 3, sized.size[0], sized.size[1]]);
  const plan = planFor(sized.graph, nodes);
  const lowered = emitForward(builder, model, sized, plan, image, emission.maxPoolGradient === 'indices');
  return { builder, image, plan, lowered };
}

/** The pointwise head to shortcut at `target`, if any: none where the backward pass stops at the target itself. */
function headFor(sized: SizedGraph, target: GraphNode, emission: EmitOptions, stopAt?: GraphNode): PointwiseHead | undefined {
  return emission.pointwiseHeads && stopAt?.name !== target.name ? pointwiseHead(sized, target) : undefined;
}

/**
 * The channel-mean objective of a pointwise head from its input (see pointwiseHead), and its
 * gradient with respect to that input: (weights . W) / (H * W) at every pixel. The head's conv over
 * the whole feature map, forward and backward, is not run (about 5 % of darknet-tiny's gradient
 * FLOPs at conv2d_16). For one-hot weights the gradient has the bits of the conv's backward pass
 * (one product W[k, j] * 1 / (H * W) either way); the objective differs by float rounding only.
 */
function emitHeadObjective(builder: OnnxGraphBuilder, head: PointwiseHead, inputTensor: string, inputShape: Shape, weights: string): { objective: string; dInput: string } {
  const [, ...spatial] = inputShape.dims;
  const area = spatial.reduce((a, b) => a * b, 1);
  const kernel = builder.floatTensor('head.weight', head.weight, [head.outChannels, head.inChannels]);
  const inputMeans = builder.op('ReduceMean', [inputTensor], 'head/input_means', { axes: [2, 3], keepdims: 0 });
  const gemmInputs = [inputMeans, kernel, ...(head.bias ? [builder.floatTensor('head.bias', head.bias, [head.outChannels])] : [])];
  const means = builder.op('Gemm', gemmInputs, 'objective/channel_means', { transB: 1 });
  const objective = builder.op('ReduceSum', [builder.op('Mul', [means, weights], 'objective/weighted'), builder.int64Tensor('objective.axes', [1])], 'objective', { keepdims: 0 });
  const perInput = builder.op('MatMul', [weights, kernel], 'head/grad_per_channel');
  const perPixel = builder.op('Mul', [perInput, builder.scalar('objective.inv_area', 1 / area)], 'head/grad_per_pixel');
  const perChannel = builder.op('Unsqueeze', [perPixel, builder.int64Tensor('objective.spatial_axes', [2, 3])], 'head/grad_nc11');
  const dInput = builder.op('Expand', [perChannel, builder.int64Tensor('head.input_dims', [1, ...inputShape.dims])], 'head/grad_input');
  return { objective, dInput };
}

/**
 * The channel-mean objective of `target` and d objective / d the tensor the backward pass starts
 * from: the target itself, or a pointwise head's input (emitHeadObjective).
 */
function emitObjectiveAt(builder: OnnxGraphBuilder, sized: SizedGraph, head: PointwiseHead | undefined, lowered: Lowered, target: GraphNode, weights: string): { objective: string; dEnd: string } {
  if (!head) {
    const { objective, dLayer } = emitObjective(builder, lowered.tensors.get(target.name)!, sized.shapes.get(target.name)!, weights);
    return { objective, dEnd: dLayer };
  }
  const { objective, dInput } = emitHeadObjective(builder, head, lowered.tensors.get(head.input.name)!, sized.shapes.get(head.input.name)!, weights);
  return { objective, dEnd: dInput };
}

/**
 * The gradient program's body on `image` (RGB in [0, 1], any tensor of `builder`): the objective of
 * `target` weighted by `weights` (N x channels) and d objective / d image. The gradient program and
 * the ascent program (ascent-program.ts) both emit it.
 */
export function emitObjectiveGradient(builder: OnnxGraphBuilder, model: CnnModel, sized: SizedGraph, target: GraphNode, image: string, weights: string, emission: EmitOptions): { objective: string; gradient: string } {
  const head = headFor(sized, target, emission);
  const end = head?.input ?? target;
  const plan = planFor(sized.graph, [end]);
  const lowered = emitForward(builder, model, sized, plan, image, emission.maxPoolGradient === 'indices');
  const { objective, dEnd } = emitObjectiveAt(builder, sized, head, lowered, target, weights);
  const gradient = emitBackward(builder, sized, plan, lowered, end, dEnd, { invStd: model.preprocessing.std.map((s) => 1 / s) }, emission);
  return { objective, gradient };
}

export function buildGradientProgram(model: CnnModel, sized: SizedGraph, layer: string, batch: number | string = BATCH_DIM, emission: EmitOptions = CPU_EMISSION): Program {
  const [target] = resolveLayers(sized.graph, [layer]);
  const layerShape = sized.shapes.get(target.name)!;
  const builder = new OnnxGraphBuilder({ sumAsAdds: emission.sumAsAdds });
  const image = builder.input('image', [batch, 3, sized.size[0], sized.size[1]]);
  const weights = builder.input('channel_weights', [batch, layerShape.dims[0]]);
  const { objective, gradient } = emitObjectiveGradient(builder, model, sized, target, image, weights, emission);
  builder.output(objective, [batch]);
  builder.output(gradient, [batch, 3, sized.size[0], sized.size[1]]);
  return { bytes: builder.encode(`${model.name} gradient of ${target.name}`), inputs: { image, weights }, outputs: [objective, gradient] };
}

/**
 * (image, d objective / d layer) -> d objective / d image, for an objective computed outside the
 * engine from the layer's output (a vector-Jacobian product), and the layer's output itself.
 */
export function buildBackwardProgram(model: CnnModel, sized: SizedGraph, layer: string, batch: number | string = BATCH_DIM, emission: EmitOptions = CPU_EMISSION): Program {
  const [target] = resolveLayers(sized.graph, [layer]);
  const layerShape = sized.shapes.get(target.name)!;
  const { builder, image, plan, lowered } = start(model, sized, [target], batch, emission);
  const dLayer = builder.input('layer_gradient', dimsOf(layerShape, batch));
  const activation = builder.op('Identity', [lowered.tensors.get(target.name)!], 'layer_output');
  const gradient = emitBackward(builder, sized, plan, lowered, target, dLayer, { invStd: model.preprocessing.std.map((s) => 1 / s) }, emission);
  builder.output(activation, dimsOf(layerShape, batch));
  builder.output(gradient, [batch, 3, sized.size[0], sized.size[1]]);
  return { bytes: builder.encode(`${model.name} backward of ${target.name}`), inputs: { image, layerGradient: dLayer }, outputs: [activation, gradient] };
}

/**
 * (image, channel weights) -> the objective of `layer` and, per channel i of the earlier layer
 * `from`, sum over space of from[n, i] * d objective[n] / d from[n, i]: how much each of `from`'s
 * channels contributes to the objective (gradient x input attribution).
 */
export function buildAttributionProgram(model: CnnModel, sized: SizedGraph, layer: string, from: string, batch: number | string = BATCH_DIM, emission: EmitOptions = CPU_EMISSION): Program {
  const [target, source] = resolveLayers(sized.graph, [layer, from]);
  const layerShape = sized.shapes.get(target.name)!;
  const sourceShape = sized.shapes.get(source.name)!;
  const head = headFor(sized, target, emission, source);
  const end = head?.input ?? target;
  const { builder, image, plan, lowered } = start(model, sized, [end, source], batch, emission);
  const weights = builder.input('channel_weights', [batch, layerShape.dims[0]]);
  const { objective, dEnd } = emitObjectiveAt(builder, sized, head, lowered, target, weights);
  const dSource = emitBackward(builder, sized, plan, lowered, end, dEnd, { stopAt: source.name }, emission);
  const attribution = emitAttribution(builder, lowered.tensors.get(source.name)!, dSource, sourceShape);
  builder.output(objective, [batch]);
  builder.output(attribution, [batch, sourceShape.dims[0]]);
  return { bytes: builder.encode(`${model.name} attribution of ${target.name} to ${source.name}`), inputs: { image, weights }, outputs: [objective, attribution] };
}

/** sum over space of activation * gradient, per channel (N x C, or the product itself for an N x C layer). */
function emitAttribution(builder: OnnxGraphBuilder, activation: string, dSource: string, sourceShape: Shape): string {
  const product = builder.op('Mul', [activation, dSource], 'attribution/product');
  const spatialAxes = sourceShape.dims.slice(1).map((_, i) => i + 2);
  return spatialAxes.length ? builder.op('ReduceSum', [product, builder.int64Tensor('attribution.axes', spatialAxes)], 'attribution', { keepdims: 0 }) : builder.op('Identity', [product], 'attribution');
}

/**
 * The attribution program of several objectives per image: (image N x 3 x H x W, row_images R,
 * channel weights R x C) -> objective and attribution per row, where row r is the objective of
 * weights[r] on image row_images[r]. Equal to buildAttributionProgram on a batch holding image
 * row_images[r] at position r, but the whole forward pass runs once per image; only the backward
 * pass (one per objective) runs per row, reading the forward values it needs gathered from the
 * row's image (docs/design.md, "Connected filters").
 */
export function buildRowAttributionProgram(model: CnnModel, sized: SizedGraph, layer: string, from: string, emission: EmitOptions = CPU_EMISSION): Program {
  const [target, source] = resolveLayers(sized.graph, [layer, from]);
  const layerShape = sized.shapes.get(target.name)!;
  const sourceShape = sized.shapes.get(source.name)!;
  const head = headFor(sized, target, emission, source);
  const end = head?.input ?? target;
  const builder = new OnnxGraphBuilder({ sumAsAdds: emission.sumAsAdds });
  const image = builder.input('image', [BATCH_DIM, 3, sized.size[0], sized.size[1]]);
  const plan = planFor(sized.graph, [end, source]);
  // Max-pool indices only after `from`: the backward pass stops there.
  const before = new Set(planFor(sized.graph, [source]).nodes.map((n) => n.name));
  const perImage = emitForward(builder, model, sized, plan, image, false, plan.nodes.filter((n) => before.has(n.name)));
  const withIndices = emission.maxPoolGradient === 'indices';
  emitNodes(builder, sized, plan, perImage, plan.nodes.filter((n) => !before.has(n.name)), withIndices);
  const rowImages = builder.input('row_images', [ROWS_DIM], 'int64');
  const rows = gatherRows(builder, sized, perImage, rowImages, withIndices);
  const weights = builder.input('channel_weights', [ROWS_DIM, layerShape.dims[0]]);
  const { objective, dEnd } = emitObjectiveAt(builder, sized, head, rows, target, weights);
  const dSource = emitBackward(builder, sized, plan, rows, end, dEnd, { stopAt: source.name }, emission);
  const attribution = emitAttribution(builder, rows.tensors.get(source.name)!, dSource, sourceShape);
  builder.output(objective, [ROWS_DIM]);
  builder.output(attribution, [ROWS_DIM, sourceShape.dims[0]]);
  return { bytes: builder.encode(`${model.name} attribution of ${target.name} to ${source.name} by rows`), inputs: { image, weights, rowImages }, outputs: [objective, attribution] };
}

/**
 * The forward values of `perImage` as rows: a value read (by the backward pass) is gathered from
 * the row's image on first use, once. Values without a batch dimension (constants) pass as they
 * are. Max-pool indices are flat positions in the whole N x C x H x W input, so a gathered row's
 * indices move from its image's block to the row's: + (row - image) x C x H x W. Without indices
 * (`withIndices` false: the `windows` emission), no shift is emitted, and no shape arithmetic.
 */
function gatherRows(builder: OnnxGraphBuilder, sized: SizedGraph, perImage: Lowered, rowImages: string, withIndices: boolean): Lowered {
  let shift = '';
  if (withIndices) {
    const count = builder.op('Squeeze', [builder.op('Shape', [rowImages], 'rows/count_1d')], 'rows/count');
    const positions = builder.op('Range', [builder.int64Tensor('rows.zero', [0], []), count, builder.int64Tensor('rows.one', [1], [])], 'rows/positions');
    shift = builder.op('Sub', [positions, rowImages], 'rows/block_shift');
  }
  const lazy = (source: Map<string, string>, gather: (name: string, tensor: string) => string) => {
    const made = new Map<string, string>();
    return new (class extends Map<string, string> {
      override get(name: string): string | undefined {
        const tensor = source.get(name);
        if (tensor === undefined) return undefined;
        let row = made.get(name);
        if (row === undefined) made.set(name, (row = gather(name, tensor)));
        return row;
      }
      override has(name: string): boolean {
        return source.has(name);
      }
    })();
  };
  const tensors = lazy(perImage.tensors, (name, tensor) => (sized.shapes.get(name)!.batched ? builder.op('Gather', [tensor, rowImages], `rows/${name}`, { axis: 0 }) : tensor));
  const poolIndices = lazy(perImage.poolIndices, (name, indices) => {
    const input = sized.shapes.get(perImage.inputs.get(name)![0])!;
    const rank = 1 + sized.shapes.get(name)!.dims.length;
    const offset = builder.op('Mul', [shift, builder.int64Tensor(`rows.${name}.block`, [input.dims.reduce((a, b) => a * b, 1)], [])], `rows/${name}/index_offset`);
    const perRow = builder.op('Reshape', [offset, builder.int64Tensor(`rows.${name}.offset_dims`, [-1, ...new Array<number>(rank - 1).fill(1)])], `rows/${name}/index_offset_nd`);
    return builder.op('Add', [builder.op('Gather', [indices, rowImages], `rows/${name}/indices_gathered`, { axis: 0 }), perRow], `rows/${name}/indices`);
  });
  return { ...perImage, tensors, poolIndices, ops: new Map(perImage.ops), inputs: new Map(perImage.inputs) };
}
