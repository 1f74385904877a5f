/**
 * The one check of a tensor's dims as a model file declares them (ONNX initializers, safetensors
 * headers, TensorFlow.js weight manifests), before anything is allocated from them: each dim a
 * non-negative integer, and at most MAX_TENSOR_ELEMENTS elements. A damaged or hostile file otherwise
 * asks for a typed array of 1e12 or -5 elements and fails with a RangeError far from the file's name.
 * Each loader then checks the element count against the bytes the file holds.
 */
import { describeValue, userError } from '../errors.js';

/** 2^28 elements (1 GiB as float32): VGG-16's largest weight (fc6) holds 103 million. */
export const MAX_TENSOR_ELEMENTS = 2 ** 28;

/**
 * The dims as numbers and their element count, or a user error at `where` (the file and the tensor).
 * `fix` says how to get a sound file of this format.
 */
export function checkedDims(dims: readonly unknown[], where: string, fix: string): { dims: number[]; count: number } {
  const numbers: number[] = [];
  for (const dim of dims) {
    if (typeof dim !== 'number' || !Number.isSafeInteger(dim) || dim < 0) {
      throw userError({ where, expected: 'tensor dims that are non-negative integers', received: `dims [${dims.map((d) => (typeof d === 'number' ? String(d) : describeValue(d))).join(', ')}]`, fix });
    }
    numbers.push(dim);
  }
  const count = numbers.reduce((a, b) => a * b, 1);
  if (count > MAX_TENSOR_ELEMENTS) {
    throw userError({ where, expected: `a tensor of at most ${MAX_TENSOR_ELEMENTS} elements`, received: `dims [${numbers.join(', ')}] (${count} elements)`, fix });
  }
  return { dims: numbers, count };
}
