/** Argument checks both engines make the same way, so their errors read the same. */
import { userError } from '../errors.js';
import { ancestors } from '../model/layers.js';
import type { SizedGraph } from '../model/sized.js';

/** A buffer of exactly dims' product values. */
export function checkLength(what: string, dims: readonly number[], values: Float32Array): void {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (values.length !== expected) {
    throw userError({ where: what, expected: `${dims.join(' x ')} = ${expected} values`, received: `${values.length} values` });
  }
}

/** `from` is a layer that `layer` depends on (attributions flow back to it). */
export function checkEarlier(sized: SizedGraph, layer: string, from: string): void {
  if (from === layer || !ancestors(sized.graph, layer).has(from)) {
    throw userError({
      where: `attribution of layer ${JSON.stringify(layer)} to ${JSON.stringify(from)}`,
      expected: `a layer that ${layer} depends on`,
      received: from === layer ? 'the layer itself' : `${from}, which it does not read`,
      fix: 'Pick an earlier layer on the path to it (filter-atlas layers lists them in order).',
    });
  }
}

/** Row images of a rows attribution: one integer index into the batch's n images per row. */
export function checkRowImages(rowImages: Int32Array, n: number): void {
  const bad = rowImages.findIndex((i) => !(Number.isInteger(i) && i >= 0 && i < n));
  if (rowImages.length === 0 || bad >= 0) {
    throw userError({
      where: 'row images of an attribution',
      expected: `at least one row, each an image index 0..${n - 1} of the batch`,
      received: rowImages.length === 0 ? 'no rows' : `${rowImages[bad]} at row ${bad}`,
    });
  }
}
