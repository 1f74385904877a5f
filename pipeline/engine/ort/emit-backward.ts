/**
 * The hand-built backward pass (ONNX Runtime has no autodiff): from d objective / d layer,
 * walk the planned nodes in reverse and emit each op's input gradient with the rules
 * checked in DESIGN.md section 3. Shapes are static per program (height and width fixed,
 * batch dynamic), so pool and transposed-conv sizes are computed here, not in the graph.
 */
import { userError } from '../../errors.js';
import { INPUT, type GraphNode, type Op, type Pair } from '../../model/graph.js';
import type { Shape } from '../../model/layers.js';
import type { OnnxGraphBuilder } from './onnx-builder.js';
import { batchNormAffine, type ConvOp, type Plan } from './plan.js';
import { convAttributes, perChannel, type Lowered } from './emit-forward.js';

/** Ops whose input gradient this module emits. */
export const DIFFERENTIABLE_OPS = ['conv', 'batchNorm', 'relu', 'leakyRelu', 'clip', 'maxPool', 'avgPool', 'globalAvgPool', 'pad', 'add', 'concat', 'identity'] as const;

interface Context {
  builder: OnnxGraphBuilder;
  lowered: Lowered;
  shapes: Map<string, Shape>;
  layer: string;
}

/** OIHW kernel of the conv that maps output gradients back to inputs: spatially flipped, in/out swapped per group. */
export function flippedKernel(op: ConvOp): { data: Float32Array; shape: number[] } {
  const [outChannels, inPerGroup, kh, kw] = op.weight.shape;
  const outPerGroup = outChannels / op.group;
  const src = op.weight.data;
  const data = new Float32Array(src.length);
  for (let g = 0; g < op.group; g++) {
    for (let ol = 0; ol < outPerGroup; ol++) {
      for (let il = 0; il < inPerGroup; il++) {
        const from = ((g * outPerGroup + ol) * inPerGroup + il) * kh * kw;
        const to = ((g * inPerGroup + il) * outPerGroup + ol) * kh * kw;
        for (let a = 0; a < kh; a++) for (let b = 0; b < kw; b++) data[to + a * kw + b] = src[from + (kh - 1 - a) * kw + (kw - 1 - b)];
      }
    }
  }
  return { data, shape: [op.group * inPerGroup, outPerGroup, kh, kw] };
}

/**
 * Pads and output_padding so a ConvTranspose maps an (outSize) gradient back to exactly
 * inSize: the full transposed extent is cropped at the end when a ceil-mode window hung
 * past the input, and extended by output_padding when a floor-mode conv dropped a remainder.
 */
function transposedFit(inSize: number, outSize: number, kernel: number, stride: number, padBegin: number, padEnd: number): { padEnd: number; outputPadding: number } {
  const full = stride * (outSize - 1) + kernel - padBegin - padEnd;
  return full >= inSize ? { padEnd: padEnd + (full - inSize), outputPadding: 0 } : { padEnd, outputPadding: inSize - full };
}

function convBackward(ctx: Context, name: string, op: ConvOp, dy: string, inShape: Shape, outShape: Shape): string {
  const { builder } = ctx;
  const [, , kh, kw] = op.weight.shape;
  const effective: Pair = [(kh - 1) * op.dilations[0] + 1, (kw - 1) * op.dilations[1] + 1];
  const [top, left, bottom, right] = op.pads;
  const flippedPads = [effective[0] - 1 - top, effective[1] - 1 - left, effective[0] - 1 - bottom, effective[1] - 1 - right];
  if (op.strides[0] === 1 && op.strides[1] === 1 && flippedPads.every((p) => p >= 0)) {
    // Stride 1: a plain Conv with the flipped kernel, measured faster here than ConvTranspose.
    const kernel = flippedKernel(op);
    const weight = builder.floatTensor(`${name}.weight_flipped`, kernel.data, kernel.shape);
    return builder.op('Conv', [dy, weight], `${name}/grad_input`, {
      kernel_shape: [kh, kw],
      strides: [1, 1],
      pads: flippedPads,
      dilations: op.dilations,
      group: op.group,
    });
  }
  const fitH = transposedFit(inShape.height, outShape.height, effective[0], op.strides[0], top, bottom);
  const fitW = transposedFit(inShape.width, outShape.width, effective[1], op.strides[1], left, right);
  // ConvTranspose reads an OIHW conv kernel as (C_in of the transpose = O, O/group = I/group): the weight as is.
  const weight = builder.floatTensor(`${name}.weight_t`, op.weight.data, op.weight.shape);
  return builder.op('ConvTranspose', [dy, weight], `${name}/grad_input`, {
    ...convAttributes(op),
    pads: [top, left, fitH.padEnd, fitW.padEnd],
    output_padding: [fitH.outputPadding, fitW.outputPadding],
  });
}

/** dx = dy where the mask holds, else 0 (or alpha * dy for LeakyReLU). */
function maskedBackward(ctx: Context, name: string, op: Extract<Op, { kind: 'relu' | 'leakyRelu' | 'clip' }>, dy: string, x: string): string {
  const { builder } = ctx;
  const zero = builder.scalar(`${name}.zero`, 0);
  if (op.kind === 'clip') {
    const above = builder.op('Greater', [x, builder.scalar(`${name}.min`, op.min)], `${name}/above_min`);
    const below = builder.op('Less', [x, builder.scalar(`${name}.max`, op.max)], `${name}/below_max`);
    const inside = builder.op('And', [above, below], `${name}/inside`);
    return builder.op('Where', [inside, dy, zero], `${name}/grad_input`);
  }
  const positive = builder.op('Greater', [x, zero], `${name}/positive`);
  const otherwise = op.kind === 'relu' ? zero : builder.op('Mul', [dy, builder.scalar(`${name}.alpha`, op.alpha)], `${name}/grad_negative`);
  return builder.op('Where', [positive, dy, otherwise], `${name}/grad_input`);
}

function maxPoolBackward(ctx: Context, node: GraphNode, op: Extract<Op, { kind: 'maxPool' }>, dy: string, x: string, inShape: Shape, outShape: Shape): string {
  const { builder } = ctx;
  const name = node.name;
  const indices = ctx.lowered.poolIndices.get(name)!;
  // Indices are flat positions in the (unpadded) pre-pool tensor, N*C*H*W.
  const xShape = builder.op('Shape', [x], `${name}/input_shape`);
  const xSize = builder.op('Reshape', [builder.op('Size', [x], `${name}/input_size`), builder.int64Tensor(`${name}.one`, [1])], `${name}/input_size_1d`);
  const flatShape = builder.int64Tensor(`${name}.flat`, [-1]);
  if (op.kernel[0] > op.strides[0] || op.kernel[1] > op.strides[1]) {
    // Overlapping windows: one input can be the max of several windows, so gradients must add up.
    const zeros = builder.op('ConstantOfShape', [xSize], `${name}/zeros`);
    const flatIndices = builder.op('Reshape', [indices, flatShape], `${name}/indices_flat`);
    const flatDy = builder.op('Reshape', [dy, flatShape], `${name}/grad_flat`);
    const scattered = builder.op('ScatterElements', [zeros, flatIndices, flatDy], `${name}/grad_scattered`, { axis: 0, reduction: 'add' });
    return builder.op('Reshape', [scattered, xShape], `${name}/grad_input`);
  }
  // MaxUnpool places by flat index. Its output must be at least its own default size, which
  // exceeds the input when a ceil-mode window hangs past the edge (odd sizes): unpool into
  // the larger shape, then keep the first N*C*H*W values.
  const [top, left, bottom, right] = op.pads;
  const height = Math.max(inShape.height, (outShape.height - 1) * op.strides[0] + op.kernel[0] - top - bottom);
  const width = Math.max(inShape.width, (outShape.width - 1) * op.strides[1] + op.kernel[1] - left - right);
  const batch = builder.op('Shape', [x], `${name}/batch`, { end: 1 });
  const unpoolShape = builder.op('Concat', [batch, builder.int64Tensor(`${name}.unpool_dims`, [inShape.channels, height, width])], `${name}/unpool_shape`, { axis: 0 });
  const unpooled = builder.op('MaxUnpool', [dy, indices, unpoolShape], `${name}/unpooled`, { kernel_shape: op.kernel, strides: op.strides, pads: op.pads });
  if (height === inShape.height && width === inShape.width) return unpooled;
  const flat = builder.op('Reshape', [unpooled, flatShape], `${name}/unpooled_flat`);
  const kept = builder.op('Slice', [flat, builder.int64Tensor(`${name}.start`, [0]), xSize], `${name}/grad_flat`);
  return builder.op('Reshape', [kept, xShape], `${name}/grad_input`);
}

/** Per output position, how many inputs the average divides by (torch / ONNX rules, ceil overhang excluded). */
function poolDivisors(size: number, outSize: number, kernel: number, stride: number, padBegin: number, padEnd: number, includePad: boolean): number[] {
  const divisors: number[] = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * stride - padBegin;
    const end = Math.min(start + kernel, size + padEnd);
    divisors.push(includePad ? end - start : Math.min(end, size) - Math.max(start, 0));
  }
  return divisors;
}

function avgPoolBackward(ctx: Context, name: string, op: Extract<Op, { kind: 'avgPool' }>, dy: string, inShape: Shape, outShape: Shape): string {
  const { builder } = ctx;
  const [top, left, bottom, right] = op.pads;
  const dh = poolDivisors(inShape.height, outShape.height, op.kernel[0], op.strides[0], top, bottom, op.countIncludePad);
  const dw = poolDivisors(inShape.width, outShape.width, op.kernel[1], op.strides[1], left, right, op.countIncludePad);
  const inverse = new Float32Array(dh.length * dw.length);
  dh.forEach((h, i) => dw.forEach((w, j) => (inverse[i * dw.length + j] = 1 / (h * w))));
  const scaled = builder.op('Mul', [dy, builder.floatTensor(`${name}.inv_divisor`, inverse, [1, 1, dh.length, dw.length])], `${name}/grad_scaled`);
  // Spread each scaled gradient over its window: a depthwise ConvTranspose with a kernel of ones.
  const channels = inShape.channels;
  const ones = builder.floatTensor(`${name}.ones`, new Float32Array(channels * op.kernel[0] * op.kernel[1]).fill(1), [channels, 1, ...op.kernel]);
  const fitH = transposedFit(inShape.height, outShape.height, op.kernel[0], op.strides[0], top, bottom);
  const fitW = transposedFit(inShape.width, outShape.width, op.kernel[1], op.strides[1], left, right);
  return builder.op('ConvTranspose', [scaled, ones], `${name}/grad_input`, {
    kernel_shape: op.kernel,
    strides: op.strides,
    pads: [top, left, fitH.padEnd, fitW.padEnd],
    output_padding: [fitH.outputPadding, fitW.outputPadding],
    group: channels,
  });
}

function unsupported(ctx: Context, node: GraphNode): Error {
  return userError({
    where: `model node ${JSON.stringify(node.name)} (op ${node.op.kind}) on the path to layer ${JSON.stringify(ctx.layer)}`,
    expected: `ops the onnxruntime engine can differentiate (${DIFFERENTIABLE_OPS.join(', ')})`,
    received: `op ${node.op.kind}`,
    fix: 'Pick a convolutional layer before it, or use --engine tfjs, which differentiates any op it can run',
  });
}

/** Input gradients of one node, in the order of its effective inputs. */
function nodeBackward(ctx: Context, node: GraphNode, op: Op, inputs: string[], dy: string): string[] {
  const { builder, lowered, shapes } = ctx;
  const name = node.name;
  const x = lowered.tensors.get(inputs[0])!;
  const inShape = shapes.get(inputs[0])!;
  const outShape = shapes.get(name)!;
  switch (op.kind) {
    case 'conv':
      return [convBackward(ctx, name, op, dy, inShape, outShape)];
    case 'batchNorm':
      return [builder.op('Mul', [dy, perChannel(builder, `${name}.grad_scale`, batchNormAffine(op).scale)], `${name}/grad_input`)];
    case 'relu':
    case 'leakyRelu':
    case 'clip':
      return [maskedBackward(ctx, name, op, dy, x)];
    case 'maxPool':
      return [maxPoolBackward(ctx, node, op, dy, x, inShape, outShape)];
    case 'avgPool':
      return [avgPoolBackward(ctx, name, op, dy, inShape, outShape)];
    case 'globalAvgPool': {
      const scaled = builder.op('Mul', [dy, builder.scalar(`${name}.inv_area`, 1 / (inShape.height * inShape.width))], `${name}/grad_scaled`);
      const target = builder.int64Tensor(`${name}.input_dims`, [1, inShape.channels, inShape.height, inShape.width]);
      return [builder.op('Expand', [scaled, target], `${name}/grad_input`)];
    }
    case 'pad': {
      const [top, left] = op.pads;
      const starts = builder.int64Tensor(`${name}.starts`, [top, left]);
      const ends = builder.int64Tensor(`${name}.ends`, [top + inShape.height, left + inShape.width]);
      return [builder.op('Slice', [dy, starts, ends, builder.int64Tensor(`${name}.axes`, [2, 3])], `${name}/grad_input`)];
    }
    case 'add':
    case 'identity':
      return inputs.map(() => dy);
    case 'concat': {
      let offset = 0;
      return inputs.map((input, i) => {
        const channels = shapes.get(input)!.channels;
        const slice = builder.op('Slice', [dy, builder.int64Tensor(`${name}.start${i}`, [offset]), builder.int64Tensor(`${name}.end${i}`, [offset + channels]), builder.int64Tensor(`${name}.axis`, [1])], `${name}/grad_input${i}`);
        offset += channels;
        return slice;
      });
    }
    default:
      throw unsupported(ctx, node);
  }
}

/**
 * Emits d objective / d image for `layerNode`, given d objective / d layer output.
 * Returns the gradient tensor (same shape as the image).
 */
export function emitBackward(builder: OnnxGraphBuilder, plan: Plan, lowered: Lowered, shapes: Map<string, Shape>, layerNode: GraphNode, dLayer: string, invStd: readonly number[]): string {
  const ctx: Context = { builder, lowered, shapes, layer: layerNode.name };
  const contributions = new Map<string, string[]>([[layerNode.name, [dLayer]]]);
  const gradientOf = (name: string): string | undefined => {
    const parts = contributions.get(name);
    if (!parts) return undefined;
    return parts.length === 1 ? parts[0] : builder.op('Sum', parts, `${name}/grad_total`);
  };
  // Check the whole path first so an unsupported op fails before any node is emitted.
  for (const node of plan.nodes) {
    if (!plan.folded.has(node.name) && !(DIFFERENTIABLE_OPS as readonly string[]).includes(node.op.kind)) throw unsupported(ctx, node);
  }
  for (const node of [...plan.nodes].reverse()) {
    if (plan.folded.has(node.name)) continue;
    const dy = gradientOf(node.name);
    if (dy === undefined) continue;
    const producer = plan.foldedInto.get(node.name);
    const op = producer ? lowered.convs.get(node.name)! : node.op;
    const inputs = producer ? producer.inputs : node.inputs;
    nodeBackward(ctx, node, op, inputs, dy).forEach((dx, i) => contributions.set(inputs[i], [...(contributions.get(inputs[i]) ?? []), dx]));
  }
  const dModelInput = gradientOf(INPUT);
  if (dModelInput === undefined) throw new Error(`layer ${layerNode.name} does not depend on the model input`);
  return builder.op('Mul', [dModelInput, perChannel(builder, 'preprocess.grad_inv_std', invStd)], 'image/grad');
}
