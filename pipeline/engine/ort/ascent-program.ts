/**
 * The ascent step as one ONNX program, so that a GPU provider keeps the optimised images and Adam's
 * moments in its own buffers across the steps of a scale (engine.ts, startAscent): the gradient
 * program (programs.ts) of a layer's channel-mean objective, fed the optimised variable x instead of
 * RGB, followed by torch.optim.Adam's update of x as pipeline/visualize/adam.ts does it on the host:
 *   rgb = x * std + mean (the pixel space's), g = -(d objective / d rgb) * std + weight_decay * x,
 *   m' = beta1 m + (1 - beta1) g, v' = beta2 v + (1 - beta2) g^2,
 *   x' = x - step_size * m' / (sqrt(v') / sqrt_correction2 + eps),
 * with step_size = lr / (1 - beta1^t) and sqrt_correction2 = sqrt(1 - beta2^t) as scalar inputs (one
 * session serves every step; adam.ts's adamScalars makes them). Per image, as the host loop
 * (visualize/loop.ts) does: an image whose objective or gradient is not finite is frozen: its x set
 * to 0, its moments kept, its objective returned as NaN (the host learns of it from that alone);
 * a frozen image (active 0) is never updated. `seen` records whether a non-zero gradient reached an
 * image in a step where it was active. The channel weights, the active flags and `seen` pass
 * through as outputs, so that the whole state lives on the device after the first step.
 */
import type { CnnModel } from '../../model/graph.js';
import type { SizedGraph } from '../../model/sized.js';
import { OnnxGraphBuilder } from './onnx-builder.js';
import { resolveLayers } from './plan.js';
import { BATCH_DIM, emitObjectiveGradient, type EmitOptions } from './programs.js';
import { perChannel } from './rules/context.js';

/** The pixel space of x: x = (rgb - mean) / std per channel. */
export interface AscentSpace {
  mean: readonly number[];
  std: readonly number[];
}

/** Adam's constants (torch.optim.Adam's defaults are 0.9, 0.999, 1e-8). */
export interface AscentAdam {
  weightDecay: number;
  beta1: number;
  beta2: number;
  eps: number;
}

/** The state carried from one step to the next: input name -> the output that is its next value. */
export const ASCENT_STATE = ['params', 'm', 'v', 'channel_weights', 'active', 'seen'] as const;
export type AscentStateName = (typeof ASCENT_STATE)[number];

export interface AscentProgram {
  bytes: Uint8Array;
  /** Graph input names of the state, and of the two scalars fed each step. */
  inputs: Record<AscentStateName, string> & { stepSize: string; correction: string };
  /** Graph output names: the objective per image (to the host each step) and the state's next values. */
  outputs: Record<AscentStateName, string> & { objective: string };
}

export function buildAscentProgram(model: CnnModel, sized: SizedGraph, layer: string, space: AscentSpace, adam: AscentAdam, emission: EmitOptions): AscentProgram {
  const [target] = resolveLayers(sized.graph, [layer]);
  const layerShape = sized.shapes.get(target.name)!;
  const [height, width] = sized.size;
  const imageDims = [BATCH_DIM, 3, height, width];
  const builder = new OnnxGraphBuilder({ sumAsAdds: emission.sumAsAdds });
  const params = builder.input('params', imageDims);
  const m = builder.input('m', imageDims);
  const v = builder.input('v', imageDims);
  const weights = builder.input('channel_weights', [BATCH_DIM, layerShape.dims[0]]);
  const active = builder.input('active', [BATCH_DIM]);
  const seen = builder.input('seen', [BATCH_DIM]);
  const stepSize = builder.input('step_size', []);
  const correction = builder.input('sqrt_correction2', []);

  // The gradient program on rgb = x * std + mean.
  const scaled = builder.op('Mul', [params, perChannel(builder, 'space.std', space.std)], 'ascent/scaled');
  const rgb = builder.op('Add', [scaled, perChannel(builder, 'space.mean', space.mean)], 'ascent/rgb');
  const { objective, gradient: dRgb } = emitObjectiveGradient(builder, model, sized, target, rgb, weights, emission);

  // Per image: finite objective and gradient (x * 0 is 0 for a finite x, NaN otherwise), and a non-zero gradient.
  const zero = builder.scalar('ascent.zero', 0);
  const one = builder.scalar('ascent.one', 1);
  const imageAxes = builder.int64Tensor('ascent.image_axes', [1, 2, 3]);
  const gradientNaNs = builder.op('ReduceSum', [builder.op('Mul', [dRgb, zero], 'ascent/grad_x0'), imageAxes], 'ascent/grad_nan', { keepdims: 0 });
  const finite = builder.op('Equal', [builder.op('Add', [builder.op('Mul', [objective, zero], 'ascent/objective_x0'), gradientNaNs], 'ascent/nan'), zero], 'ascent/finite');
  const half = builder.scalar('ascent.half', 0.5);
  const isActive = builder.op('Greater', [active, half], 'ascent/is_active');
  const okFlag = builder.op('Where', [finite, active, zero], 'ascent/ok_flag');
  const ok = builder.op('Greater', [okFlag, half], 'ascent/ok');
  const largest = builder.op('ReduceMax', [builder.op('Abs', [dRgb], 'ascent/grad_abs')], 'ascent/grad_largest', { axes: [1, 2, 3], keepdims: 0 });
  const reached = builder.op('Where', [builder.op('Greater', [largest, zero], 'ascent/grad_nonzero'), okFlag, zero], 'ascent/reached');
  const seenNext = builder.op('Max', [seen, reached], 'ascent/seen');

  // Adam on the loss -objective, in x: d loss / d x = -(d objective / d rgb) * std.
  const negStd = perChannel(builder, 'space.neg_std', space.std.map((s) => -s));
  let g = builder.op('Mul', [dRgb, negStd], 'adam/grad');
  if (adam.weightDecay !== 0) g = builder.op('Add', [g, builder.op('Mul', [params, builder.scalar('adam.weight_decay', adam.weightDecay)], 'adam/decay')], 'adam/grad_decayed');
  const mix = (state: string, value: string, keep: number, name: string) =>
    builder.op('Add', [builder.op('Mul', [state, builder.scalar(`adam.keep_${name}`, keep)], `adam/${name}_kept`), builder.op('Mul', [value, builder.scalar(`adam.take_${name}`, 1 - keep)], `adam/${name}_taken`)], `adam/${name}`);
  const mNew = mix(m, g, adam.beta1, 'm');
  const vNew = mix(v, builder.op('Mul', [g, g], 'adam/grad_squared'), adam.beta2, 'v');
  const denominator = builder.op('Add', [builder.op('Div', [builder.op('Sqrt', [vNew], 'adam/v_sqrt'), correction], 'adam/v_corrected'), builder.scalar('adam.eps', adam.eps)], 'adam/denominator');
  const update = builder.op('Div', [builder.op('Mul', [mNew, stepSize], 'adam/m_scaled'), denominator], 'adam/update');
  const stepped = builder.op('Sub', [params, update], 'adam/params');

  // Images that may not move: a newly diverged one is set to 0 (as the host loop does), a frozen one
  // kept. Selected on rows (N x 3HW): the layout pass of the WebGPU provider would put a Transpose
  // around an N x 1 x 1 x 1 boolean, and WebGPU has no Transpose of booleans (it would run on the CPU).
  const rows = builder.int64Tensor('ascent.rows', [0, -1]);
  const nchw = builder.int64Tensor('ascent.nchw', [0, 3, height, width]);
  const row = (tensor: string, hint: string) => builder.op('Reshape', [tensor, rows], `${hint}_rows`);
  const column = builder.int64Tensor('ascent.column', [1]);
  const okRow = builder.op('Unsqueeze', [ok, column], 'ascent/ok_n1');
  const activeRow = builder.op('Unsqueeze', [isActive, column], 'ascent/active_n1');
  const select = (condition: string, yes: string, no: string, hint: string) => builder.op('Where', [condition, yes, no], hint);
  const image = (tensor: string, hint: string) => builder.op('Reshape', [tensor, nchw], hint);
  const paramsNext = image(select(okRow, row(stepped, 'adam/params'), select(activeRow, zero, row(params, 'ascent/params'), 'ascent/frozen_params'), 'ascent/params_rows_next'), 'ascent/params_next');
  const mNext = image(select(okRow, row(mNew, 'adam/m'), row(m, 'ascent/m'), 'ascent/m_rows_next'), 'ascent/m_next');
  const vNext = image(select(okRow, row(vNew, 'adam/v'), row(v, 'ascent/v'), 'ascent/v_rows_next'), 'ascent/v_next');
  const activeNext = builder.op('Where', [ok, one, zero], 'ascent/active_next');
  const objectiveOut = builder.op('Where', [finite, objective, builder.scalar('ascent.nan', Number.NaN)], 'ascent/objective');
  const weightsNext = builder.op('Identity', [weights], 'ascent/channel_weights_next');

  builder.output(objectiveOut, [BATCH_DIM]);
  builder.output(paramsNext, imageDims);
  builder.output(mNext, imageDims);
  builder.output(vNext, imageDims);
  builder.output(weightsNext, [BATCH_DIM, layerShape.dims[0]]);
  builder.output(activeNext, [BATCH_DIM]);
  builder.output(seenNext, [BATCH_DIM]);
  return {
    bytes: builder.encode(`${model.name} ascent step of ${target.name}`),
    inputs: { params, m, v, channel_weights: weights, active, seen, stepSize, correction },
    outputs: { objective: objectiveOut, params: paramsNext, m: mNext, v: vNext, channel_weights: weightsNext, active: activeNext, seen: seenNext },
  };
}

/** (params, seen) on the device -> the same on the host: how a scale's result comes back. */
export function buildReadbackProgram(): { bytes: Uint8Array; inputs: { params: string; seen: string }; outputs: { params: string; seen: string } } {
  const builder = new OnnxGraphBuilder();
  const params = builder.input('params', [BATCH_DIM, 3, 'H', 'W']);
  const seen = builder.input('seen', [BATCH_DIM]);
  const paramsOut = builder.op('Identity', [params], 'params_host');
  const seenOut = builder.op('Identity', [seen], 'seen_host');
  builder.output(paramsOut, [BATCH_DIM, 3, 'H', 'W']);
  builder.output(seenOut, [BATCH_DIM]);
  return { bytes: builder.encode('readback'), inputs: { params, seen }, outputs: { params: paramsOut, seen: seenOut } };
}
