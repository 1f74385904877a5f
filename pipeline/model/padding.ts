import type { Pads } from './graph.js';

/**
 * TensorFlow / Keras 'same' padding (= ONNX auto_pad SAME_UPPER) along one axis:
 * output = ceil(size / stride); the odd pixel of padding goes after.
 * With stride 1 the result does not depend on the size; with stride > 1 it does,
 * so callers compute it at the model's input size (our graph stores explicit pads).
 */
export function samePadding(size: number, kernel: number, stride: number, dilation = 1): [number, number] {
  const effective = (kernel - 1) * dilation + 1;
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return [before, total - before];
}

/** 'same' pads for both spatial axes, as graph Pads [top, left, bottom, right]. */
export function samePads(
  size: [number, number],
  kernel: [number, number],
  strides: [number, number],
  dilations: [number, number] = [1, 1],
): Pads {
  const [top, bottom] = samePadding(size[0], kernel[0], strides[0], dilations[0]);
  const [left, right] = samePadding(size[1], kernel[1], strides[1], dilations[1]);
  return [top, left, bottom, right];
}

/** True when 'same' padding is the same at every input size (stride 1 on both axes). */
export function samePadsAreSizeIndependent(strides: [number, number]): boolean {
  return strides[0] === 1 && strides[1] === 1;
}
