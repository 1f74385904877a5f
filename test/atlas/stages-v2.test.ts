/**
 * The stages atlas schema 2 adds, on small real inputs: float16 weights (rounding and the graph
 * onnxruntime-web loads), the layer pairs of connected filters and the strongest entries.
 */
import { describe, expect, it } from 'vitest';
import { layerPairs, strongest } from '../../pipeline/atlas/stage-connections.js';
import { runWithOrtWeb } from '../../pipeline/atlas/stage-probe-model.js';
import { buildForwardProgram } from '../../pipeline/engine/ort/programs.js';
import { halfToFloat } from '../../pipeline/model/half.js';
import { loadModel } from '../../pipeline/model/load.js';
import { floatToHalf, toFloat16Weights } from '../../pipeline/model/onnx-fp16.js';
import { graphAtSize } from '../../pipeline/model/sized.js';

describe('float16 weights', () => {
  it('rounds to the nearest half, ties to even, and keeps infinities and subnormals', () => {
    for (const v of [0, 1, -2.5, 0.1, 65504, 1e-5, -3.14159]) expect(Math.abs(halfToFloat(floatToHalf(v)) - v)).toBeLessThanOrEqual(Math.abs(v) * 2 ** -11 + 2 ** -25);
    expect(floatToHalf(1e6)).toBe(0x7c00);
    expect(floatToHalf(1 + 2 ** -11)).toBe(0x3c00); // a tie rounds to the even mantissa
    expect(halfToFloat(floatToHalf(2 ** -20))).toBe(2 ** -20);
  });

  it('halves darknet-tiny and runs in onnxruntime-web with its outputs within 1 % of float32', async () => {
    const model = await loadModel('darknet-tiny');
    const program = buildForwardProgram(model, graphAtSize(model, [64, 64]), ['conv2d_3']);
    const half = toFloat16Weights(program.bytes);
    expect(half.byteLength / program.bytes.byteLength).toBeLessThan(0.6);
    const image = { data: Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => (i % 97) / 97), n: 1, height: 64, width: 64 };
    const [a] = await runWithOrtWeb(program.bytes, program.inputs.image, image, program.outputs);
    const [b] = await runWithOrtWeb(half, program.inputs.image, image, program.outputs);
    const scale = Math.max(...a.map(Math.abs));
    expect(Math.max(...a.map((v, i) => Math.abs(v - b[i])))).toBeLessThan(0.01 * scale);
  });
});

describe('connected filters', () => {
  it('pairs each visualised layer with the latest earlier visualised layer it reads', async () => {
    const model = await loadModel('darknet-tiny');
    expect(layerPairs(model, [{ name: 'conv2d_16' }, { name: 'leaky_re_lu_2' }, { name: 'leaky_re_lu_6' }])).toEqual([
      { layer: 'leaky_re_lu_6', from: 'leaky_re_lu_2' },
      { layer: 'conv2d_16', from: 'leaky_re_lu_6' },
    ]);
  });

  it('lists the largest positive and the most negative values among the allowed filters', () => {
    expect(strongest([0.5, -2, 3, -0.1, Number.NaN, 0], new Set([0, 1, 2, 3, 4, 5]), 1)).toEqual({ positive: [{ filter: 2, value: 3 }], negative: [{ filter: 1, value: -2 }] });
    expect(strongest([0.5, -2, 3], new Set([0, 1]), 5).positive).toEqual([{ filter: 0, value: 0.5 }]);
  });
});
