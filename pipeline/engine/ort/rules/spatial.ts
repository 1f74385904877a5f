/**
 * Convolution and pooling, NCHW. Input gradients (checked against PyTorch, float64 ~1e-6):
 * a stride-1 conv's is a Conv with the kernel spatially flipped and in/out channels swapped
 * (measured faster here than ConvTranspose); a strided conv's a ConvTranspose fitted to the input
 * size; a max pool's puts each window's gradient at its argmax (MaxUnpool, or ScatterElements with
 * add where windows overlap; on a GPU provider, by comparing window offsets: max-pool-windows.ts); an average pool's spreads it over the window (a depthwise
 * ConvTranspose of ones) divided as the forward divided.
 */
import type { OpOf, Pair } from '../../../model/graph.js';
import type { Shape } from '../../../model/shapes.js';
import type { OnnxGraphBuilder } from '../onnx-builder.js';
import type { GradContext, OrtRule } from './context.js';
import { spatialDims, transposedFit } from './geometry.js';
import { maxPoolWindowsBackward } from './max-pool-windows.js';

export type ConvOp = OpOf<'conv'>;

export function convAttributes(op: ConvOp): Record<string, number[] | number> {
  return {
    kernel_shape: [op.weight.shape[2], op.weight.shape[3]],
    strides: op.strides,
    pads: op.pads, // both [top, left, bottom, right] = ONNX [x1_begin, x2_begin, x1_end, x2_end]
    dilations: op.dilations,
    group: op.group,
  };
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

function convBackward(builder: OnnxGraphBuilder, name: string, op: ConvOp, dy: string, inShape: Shape, outShape: Shape): string {
  const [, , kh, kw] = op.weight.shape;
  const effective: Pair = [(kh - 1) * op.dilations[0] + 1, (kw - 1) * op.dilations[1] + 1];
  const [top, left, bottom, right] = op.pads;
  const flippedPads = [effective[0] - 1 - top, effective[1] - 1 - left, effective[0] - 1 - bottom, effective[1] - 1 - right];
  if (op.strides[0] === 1 && op.strides[1] === 1 && flippedPads.every((p) => p >= 0)) {
    // Stride 1: a plain Conv with the flipped kernel, measured faster here than ConvTranspose.
    const kernel = flippedKernel(op);
    const weight = builder.floatTensor(`${name}.weight_flipped`, kernel.data, kernel.shape);
    return builder.op('Conv', [dy, weight], `${name}/grad_input`, { kernel_shape: [kh, kw], strides: [1, 1], pads: flippedPads, dilations: op.dilations, group: op.group });
  }
  const input = spatialDims(inShape);
  const output = spatialDims(outShape);
  const fitH = transposedFit(input.height, output.height, effective[0], op.strides[0], top, bottom);
  const fitW = transposedFit(input.width, output.width, effective[1], op.strides[1], left, right);
  // ConvTranspose reads an OIHW conv kernel as (C_in of the transpose = O, O/group = I/group): the weight as is.
  const weight = builder.floatTensor(`${name}.weight_t`, op.weight.data, op.weight.shape);
  return builder.op('ConvTranspose', [dy, weight], `${name}/grad_input`, {
    ...convAttributes(op),
    pads: [top, left, fitH.padEnd, fitW.padEnd],
    output_padding: [fitH.outputPadding, fitW.outputPadding],
  });
}

function maxPoolBackward(op: OpOf<'maxPool'>, ctx: GradContext): string {
  const { builder, name, dy } = ctx;
  const x = ctx.inputs[0];
  const input = spatialDims(ctx.inShapes[0]);
  const output = spatialDims(ctx.outShape);
  const indices = ctx.poolIndices();
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
  const height = Math.max(input.height, (output.height - 1) * op.strides[0] + op.kernel[0] - top - bottom);
  const width = Math.max(input.width, (output.width - 1) * op.strides[1] + op.kernel[1] - left - right);
  const batch = builder.op('Shape', [x], `${name}/batch`, { end: 1 });
  const unpoolShape = builder.op('Concat', [batch, builder.int64Tensor(`${name}.unpool_dims`, [input.channels, height, width])], `${name}/unpool_shape`, { axis: 0 });
  const unpooled = builder.op('MaxUnpool', [dy, indices, unpoolShape], `${name}/unpooled`, { kernel_shape: op.kernel, strides: op.strides, pads: op.pads });
  if (height === input.height && width === input.width) return unpooled;
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

function avgPoolBackward(op: OpOf<'avgPool'>, ctx: GradContext): string {
  const { builder, name, dy } = ctx;
  const input = spatialDims(ctx.inShapes[0]);
  const output = spatialDims(ctx.outShape);
  const [top, left, bottom, right] = op.pads;
  const dh = poolDivisors(input.height, output.height, op.kernel[0], op.strides[0], top, bottom, op.countIncludePad);
  const dw = poolDivisors(input.width, output.width, op.kernel[1], op.strides[1], left, right, op.countIncludePad);
  const inverse = new Float32Array(dh.length * dw.length);
  dh.forEach((h, i) => dw.forEach((w, j) => (inverse[i * dw.length + j] = 1 / (h * w))));
  const scaled = builder.op('Mul', [dy, builder.floatTensor(`${name}.inv_divisor`, inverse, [1, 1, dh.length, dw.length])], `${name}/grad_scaled`);
  // Spread each scaled gradient over its window: a depthwise ConvTranspose with a kernel of ones.
  const channels = input.channels;
  const ones = builder.floatTensor(`${name}.ones`, new Float32Array(channels * op.kernel[0] * op.kernel[1]).fill(1), [channels, 1, ...op.kernel]);
  const fitH = transposedFit(input.height, output.height, op.kernel[0], op.strides[0], top, bottom);
  const fitW = transposedFit(input.width, output.width, op.kernel[1], op.strides[1], left, right);
  return builder.op('ConvTranspose', [scaled, ones], `${name}/grad_input`, {
    kernel_shape: op.kernel,
    strides: op.strides,
    pads: [top, left, fitH.padEnd, fitW.padEnd],
    output_padding: [fitH.outputPadding, fitW.outputPadding],
    group: channels,
  });
}

export const conv: OrtRule<'conv'> = {
  forward(op, { builder, name, inputs }) {
    const args = [inputs[0], builder.floatTensor(`${name}.weight`, op.weight.data, op.weight.shape)];
    if (op.bias) args.push(builder.floatTensor(`${name}.bias`, op.bias, [op.bias.length]));
    return builder.op('Conv', args, name, convAttributes(op));
  },
  backward: (op, ctx) => [convBackward(ctx.builder, ctx.name, op, ctx.dy, ctx.inShapes[0], ctx.outShape)],
};

export const maxPool: OrtRule<'maxPool'> = {
  forward(op, ctx) {
    const attributes = { kernel_shape: op.kernel, strides: op.strides, pads: op.pads, ceil_mode: op.ceil ? 1 : 0 };
    if (!ctx.withIndices) return ctx.builder.op('MaxPool', ctx.inputs, ctx.name, attributes);
    const [output, indices] = ctx.builder.node('MaxPool', ctx.inputs, [ctx.name, `${ctx.name}/indices`], attributes);
    ctx.setPoolIndices(indices);
    return output;
  },
  backward: (op, ctx) => [ctx.maxPoolGradient === 'windows' ? maxPoolWindowsBackward(op, ctx) : maxPoolBackward(op, ctx)],
};

export const avgPool: OrtRule<'avgPool'> = {
  forward: (op, { builder, name, inputs }) =>
    builder.op('AveragePool', inputs, name, { kernel_shape: op.kernel, strides: op.strides, pads: op.pads, ceil_mode: op.ceil ? 1 : 0, count_include_pad: op.countIncludePad ? 1 : 0 }),
  backward: (op, ctx) => [avgPoolBackward(op, ctx)],
};

export const globalAvgPool: OrtRule<'globalAvgPool'> = {
  forward: (_op, { builder, name, inputs }) => builder.op('GlobalAveragePool', inputs, name),
  backward(_op, { builder, name, dy, inShapes }) {
    const { channels, height, width } = spatialDims(inShapes[0]);
    const scaled = builder.op('Mul', [dy, builder.scalar(`${name}.inv_area`, 1 / (height * width))], `${name}/grad_scaled`);
    return [builder.op('Expand', [scaled, builder.int64Tensor(`${name}.input_dims`, [1, channels, height, width])], `${name}/grad_input`)];
  },
};

export const pad: OrtRule<'pad'> = {
  forward(op, { builder, name, inputs }) {
    const [top, left, bottom, right] = op.pads;
    return builder.op('Pad', [inputs[0], builder.int64Tensor(`${name}.pads`, [0, 0, top, left, 0, 0, bottom, right])], name, { mode: 'constant' });
  },
  backward(op, { builder, name, dy, inShapes }) {
    const [top, left] = op.pads;
    const { height, width } = spatialDims(inShapes[0]);
    const starts = builder.int64Tensor(`${name}.starts`, [top, left]);
    const ends = builder.int64Tensor(`${name}.ends`, [top + height, left + width]);
    return [builder.op('Slice', [dy, starts, ends, builder.int64Tensor(`${name}.axes`, [2, 3])], `${name}/grad_input`)];
  },
};
