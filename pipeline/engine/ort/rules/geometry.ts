/**
 * Window arithmetic shared by the conv and pool gradients: NCHW dims of a computed tensor, and the
 * padding that makes a ConvTranspose map an output-sized gradient back onto exactly the input.
 */
import type { Shape } from '../../../model/shapes.js';

export const spatialDims = (shape: Shape) => ({ channels: shape.dims[0], height: shape.dims[1], width: shape.dims[2] });

/**
 * Pads and output_padding so a ConvTranspose maps an (outSize) gradient back to exactly
 * inSize: the full transposed extent is cropped at the end when a ceil-mode window hung
 * past the input, and extended by output_padding when a floor-mode conv dropped a remainder.
 */
export function transposedFit(inSize: number, outSize: number, kernel: number, stride: number, padBegin: number, padEnd: number): { padEnd: number; outputPadding: number } {
  const full = stride * (outSize - 1) + kernel - padBegin - padEnd;
  return full >= inSize ? { padEnd: padEnd + (full - inSize), outputPadding: 0 } : { padEnd, outputPadding: inSize - full };
}
