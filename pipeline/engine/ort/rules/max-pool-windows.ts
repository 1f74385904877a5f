/**
 * A max pool's input gradient without MaxPool's Indices output, MaxUnpool, ScatterElements or shape
 * arithmetic: ops the GPU providers have kernels for (the WebGPU provider has none for those three).
 *
 * For each offset (a, b) of the kh x kw window, a strided Slice reads the input value at that offset
 * of every window (N, C, Ho, Wo), and Equal with the pooled output says where it is the maximum. The
 * gradient goes to the first offset, in row-major order, that holds the maximum: once an offset has
 * taken a window's dy, nothing remains for later ties (`remaining`). That is the CPU provider's rule
 * (its MaxPool keeps the first maximum, comparing with >) and PyTorch's, so ties route as MaxUnpool
 * routes them. Every comparison is exact: the maximum is one of the compared values, read from the
 * same tensor.
 *
 * The K = kh x kw routed parts then go back to their offsets in their windows: by DepthToSpace where
 * the windows tile the input (kernel = stride: VGG, Darknet), else by a one-hot ConvTranspose per
 * offset, added up. Where windows do not overlap, each input receives one value or none, so the
 * result is exact. Padding (and a ceil-mode window hanging past the edge) is read as the lowest
 * float, which never equals a real maximum: a window always holds at least one input.
 */
import type { OpOf } from '../../../model/graph.js';
import type { GradContext } from './context.js';
import { spatialDims, transposedFit } from './geometry.js';

/** The lowest float32: what the windows read outside the input (MaxPool's own padding value on the CPU). */
const LOWEST_FLOAT = -3.4028234663852886e38;

export function maxPoolWindowsBackward(op: OpOf<'maxPool'>, ctx: GradContext): string {
  const { builder, name, dy, output: pooled } = ctx;
  const input = spatialDims(ctx.inShapes[0]);
  const output = spatialDims(ctx.outShape);
  const [kh, kw] = op.kernel;
  const [sh, sw] = op.strides;
  const [top, left, bottom, right] = op.pads;
  // The windows span (Ho - 1) * stride + kernel rows of the padded input; pad only what they read.
  const endH = Math.max(0, (output.height - 1) * sh + kh - top - input.height);
  const endW = Math.max(0, (output.width - 1) * sw + kw - left - input.width);
  const padded =
    top || left || endH || endW
      ? builder.op('Pad', [ctx.inputs[0], builder.int64Tensor(`${name}.window_pads`, [0, 0, top, left, 0, 0, endH, endW]), builder.scalar(`${name}.lowest`, LOWEST_FLOAT)], `${name}/windows_padded`, { mode: 'constant' })
      : ctx.inputs[0];
  const zero = builder.scalar(`${name}.grad_zero`, 0);
  const steps = builder.int64Tensor(`${name}.window_steps`, [sh, sw]);
  const axes = builder.int64Tensor(`${name}.window_axes`, [2, 3]);
  const parts: string[] = [];
  let remaining = dy;
  for (let a = 0; a < kh; a++) {
    for (let b = 0; b < kw; b++) {
      const starts = builder.int64Tensor(`${name}.offset_${a}_${b}.starts`, [a, b]);
      const ends = builder.int64Tensor(`${name}.offset_${a}_${b}.ends`, [a + (output.height - 1) * sh + 1, b + (output.width - 1) * sw + 1]);
      const values = builder.op('Slice', [padded, starts, ends, axes, steps], `${name}/offset_${a}_${b}`);
      const isMax = builder.op('Equal', [values, pooled], `${name}/offset_${a}_${b}/is_max`);
      parts.push(builder.op('Where', [isMax, remaining, zero], `${name}/offset_${a}_${b}/grad`));
      if (parts.length < kh * kw) remaining = builder.op('Where', [isMax, zero, remaining], `${name}/offset_${a}_${b}/grad_left`);
    }
  }
  return kh === sh && kw === sw && kh === kw ? placeTiled(ctx, op, parts) : placeByOffset(ctx, op, parts);
}

/**
 * Windows that tile the (padded) input, kernel = stride: the parts stacked channel-major are
 * DepthToSpace's input (CRD: channel c*K + a*kw + b goes to row h*kh + a, column w*kw + b), one
 * copy. Its (Ho*kh, Wo*kw) picture is then cut to the input: the padding before dropped, a ceil-mode
 * overhang cropped, a floor-mode remainder (no window read it) padded with zeros.
 */
function placeTiled(ctx: GradContext, op: OpOf<'maxPool'>, parts: string[]): string {
  const { builder, name } = ctx;
  const input = spatialDims(ctx.inShapes[0]);
  const output = spatialDims(ctx.outShape);
  const [kh, kw] = op.kernel;
  const [top, left] = op.pads;
  const offsets = kh * kw;
  // Concat on the height axis keeps each channel's K parts together: (N, C, K*Ho, Wo) is (N, C*K, Ho, Wo) in memory.
  const stacked =
    offsets === 1
      ? parts[0]
      : builder.op('Reshape', [builder.op('Concat', parts, `${name}/offsets`, { axis: 2 }), builder.int64Tensor(`${name}.stacked_dims`, [0, input.channels * offsets, output.height, output.width])], `${name}/offsets_stacked`);
  let placed = kh === 1 && kw === 1 ? stacked : builder.op('DepthToSpace', [stacked], `${name}/windows_placed`, { blocksize: kh, mode: 'CRD' });
  const missingH = Math.max(0, top + input.height - output.height * kh);
  const missingW = Math.max(0, left + input.width - output.width * kw);
  if (missingH || missingW) placed = builder.op('Pad', [placed, builder.int64Tensor(`${name}.remainder_pads`, [0, 0, 0, 0, 0, 0, missingH, missingW])], `${name}/windows_remainder`, { mode: 'constant' });
  if (top === 0 && left === 0 && output.height * kh + missingH === input.height && output.width * kw + missingW === input.width) return placed;
  const starts = builder.int64Tensor(`${name}.input_starts`, [top, left]);
  const ends = builder.int64Tensor(`${name}.input_ends`, [top + input.height, left + input.width]);
  return builder.op('Slice', [placed, starts, ends, builder.int64Tensor(`${name}.input_axes`, [2, 3])], `${name}/grad_input`);
}

/**
 * Any other windows (overlapping, or with gaps between them): each offset's part goes back to its
 * place by a depthwise ConvTranspose whose kernel is one at that offset, sized to the input like the
 * average pool's gradient, and the K results add up (where windows overlap, as ScatterElements with
 * add did). One grouped ConvTranspose over all K parts would do it in one node, but the WebGPU
 * provider's grouped ConvTranspose is wrong when a group has more input than output channels
 * (onnxruntime-node 1.30, measured on SwiftShader), so each stays depthwise.
 */
function placeByOffset(ctx: GradContext, op: OpOf<'maxPool'>, parts: string[]): string {
  const { builder, name } = ctx;
  const input = spatialDims(ctx.inShapes[0]);
  const output = spatialDims(ctx.outShape);
  const [kh, kw] = op.kernel;
  const [sh, sw] = op.strides;
  const [top, left, bottom, right] = op.pads;
  const fitH = transposedFit(input.height, output.height, kh, sh, top, bottom);
  const fitW = transposedFit(input.width, output.width, kw, sw, left, right);
  const attributes = { kernel_shape: [kh, kw], strides: [sh, sw], pads: [top, left, fitH.padEnd, fitW.padEnd], output_padding: [fitH.outputPadding, fitW.outputPadding], group: input.channels };
  const placed = parts.map((part, k) => {
    const oneHot = new Float32Array(input.channels * kh * kw);
    for (let c = 0; c < input.channels; c++) oneHot[c * kh * kw + k] = 1;
    return builder.op('ConvTranspose', [part, builder.floatTensor(`${name}.offset_${k}.kernel`, oneHot, [input.channels, 1, kh, kw])], `${name}/offset_${k}/placed`, attributes);
  });
  return placed.length === 1 ? placed[0] : builder.sum(placed, `${name}/grad_input`);
}
