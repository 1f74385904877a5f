/**
 * The lucid method's pixel-wise WebAssembly kernels (assembly/sampler.ts, assembly/colour.ts) against
 * the JavaScript definitions they replace (transforms.ts `sampler`, colour.ts): the same numbers within
 * float32 rounding on random data, at the loop's sizes (224 px seen at 236) and at small odd ones;
 * integer shifts and the identity copy pixels exactly; the sampler's adjoint is its transpose.
 */
import { describe, expect, it } from 'vitest';
import { colourMatrix, planesToRgb, rgbToPlanesGradient } from '../../pipeline/visualize/lucid/colour.js';
import { colourMatrixArguments, createKernels, samplerLengths, setUpSampler, type Kernels } from '../../pipeline/visualize/lucid/kernels.js';
import { defaultLucidParams, type RobustnessParams } from '../../pipeline/schema/lucid-params.js';
import { drawTransforms, jitter, randomRotate, robustnessTransforms, sampler, type AffineStep, type Size } from '../../pipeline/visualize/lucid/transforms.js';
import { createRandom } from '../../pipeline/util/random.js';
import { relativeError } from '../util/relative-error.js';

function randomArray(length: number, seed: number, low = -1, high = 1): Float32Array {
  const random = createRandom(seed);
  return new Float32Array(length).map(() => low + (high - low) * random.next());
}

/** Index of the first value that differs bit for bit, -1 if none (toEqual is slow on large typed arrays). */
function firstDifference(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.min(a.length, b.length);
  const [x, y] = [new Uint32Array(a.buffer, a.byteOffset, a.length), new Uint32Array(b.buffer, b.byteOffset, b.length)];
  return x.findIndex((v, i) => v !== y[i]);
}

function dot(a: Float32Array, b: Float32Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

const FILL = defaultLucidParams.transforms.padValue;

/** The sampler kernels for a picture of `side` px and `n` images, on arrays laid out once for the largest output `most`. */
function samplerKernels(side: number, most: Size, n: number) {
  const picture = { height: side, width: side };
  const kernels: Kernels = createKernels();
  const lengths = samplerLengths(picture, most);
  const outLength = n * 3 * most.height * most.width;
  const [corner, weights, scratch, input, output, gradient, back] = kernels.arena([lengths.corner, lengths.weights, lengths.scratch, n * 3 * side * side, outLength, outLength, n * 3 * side * side]);
  const e = kernels.exports;
  return {
    picture,
    input,
    /** The kernels' forward and adjoint for these draws, and the JavaScript's. */
    run(steps: readonly AffineStep[], x: Float32Array, y: Float32Array) {
      const out = setUpSampler(e, picture, steps, corner, weights);
      const count = n * 3 * out.height * out.width;
      input.view.set(x);
      gradient.view.set(y.subarray(0, count));
      e.samplerForward(input.offset, output.offset, n, side, side, out.height, out.width, FILL, corner.offset, weights.offset, scratch.offset);
      e.samplerAdjoint(gradient.offset, back.offset, n, side, side, out.height, out.width, corner.offset, weights.offset, scratch.offset);
      const js = sampler(picture, steps, FILL);
      return {
        weights: weights.view.slice(0, 4 * out.height * out.width),
        forward: output.view.slice(0, count),
        adjoint: back.view.slice(),
        jsForward: js.forward(x, 3 * n),
        jsAdjoint: js.adjoint(y.subarray(0, count), 3 * n),
        y: y.subarray(0, count),
      };
    },
  };
}

function expectSamplerMatches(side: number, transforms: RobustnessParams, n: number, draws: number, seed: number): void {
  const list = robustnessTransforms(transforms);
  const random = createRandom(seed);
  const picture = { height: side, width: side };
  const all = Array.from({ length: draws }, () => drawTransforms(list, picture, random));
  const most = all[0].at(-1) ?? picture;
  const k = samplerKernels(side, most, n);
  const x = randomArray(n * 3 * side * side, seed + 1, 0, 1);
  const y = randomArray(n * 3 * most.height * most.width, seed + 2);
  for (const steps of all) {
    const r = k.run(steps, x, y);
    const what = steps.map((s) => s.draw).join(', ');
    expect(relativeError(r.forward, r.jsForward), what).toBeLessThan(1e-5);
    expect(relativeError(r.adjoint, r.jsAdjoint), what).toBeLessThan(1e-5);
    // The adjoint is the forward's transpose (the fill is a constant, so <A x, y> counts it: take it out).
    const zero = k.run(steps, new Float32Array(x.length), y).forward;
    const ax = r.forward.map((v, i) => v - zero[i]);
    const left = dot(ax, r.y);
    expect(Math.abs(left - dot(x, r.adjoint)) / Math.abs(left), what).toBeLessThan(1e-5);
  }
}

describe('lucid pixel kernels: the sampler', () => {
  it('matches transforms.ts at the loop sizes (224 px seen at 236) for random draws of the default transforms', () => {
    expectSamplerMatches(224, defaultLucidParams.transforms, 2, 4, 10);
  });

  it('matches at small odd sizes (17 px seen at 25 and at 29)', () => {
    expectSamplerMatches(17, { ...defaultLucidParams.transforms, pad: 6, jitter: 2, jitterAfter: 2 }, 3, 8, 20);
    expectSamplerMatches(17, defaultLucidParams.transforms, 3, 8, 30);
  });

  it('copies pixels exactly for pure integer shifts, a rotation by 90 degrees and the identity', () => {
    const side = 17;
    const picture = { height: side, width: side };
    const random = createRandom(40);
    const shifts = robustnessTransforms({ ...defaultLucidParams.transforms, scales: [1], angles: [0] });
    const cases: AffineStep[][] = [
      [],
      ...Array.from({ length: 4 }, () => drawTransforms(shifts, picture, random)),
      drawTransforms([...shifts.slice(0, 2), randomRotate([90])], picture, random),
      drawTransforms([randomRotate([-90]), jitter(8), randomRotate([90])], picture, random),
    ];
    const k = samplerKernels(side, { height: side + 24, width: side + 24 }, 2);
    const x = randomArray(2 * 3 * side * side, 41, 0, 1);
    const y = randomArray(2 * 3 * (side + 24) * (side + 24), 42);
    for (const steps of cases) {
      const r = k.run(steps, x, y);
      const what = steps.map((s) => s.draw).join(', ') || 'identity';
      expect(firstDifference(r.forward, r.jsForward), what).toBe(-1);
      expect(firstDifference(r.adjoint, r.jsAdjoint), what).toBe(-1);
      // Float noise snapped away: every output pixel takes one tap whole.
      for (let o = 0; o < r.weights.length; o += 4) {
        const taps = [...r.weights.subarray(o, o + 4)].sort();
        expect(taps, `${what}: pixel ${o / 4}`).toEqual([0, 0, 0, 1]);
      }
      // Every output value is an input value or the fill, bit for bit.
      const values = new Set([...x, FILL]);
      expect(r.forward.every((v) => values.has(v)), what).toBe(true);
    }
    expect(firstDifference(k.run([], x, y).forward, x)).toBe(-1);
  });

  it('refuses arrays too short for the map', () => {
    const kernels = createKernels();
    const [corner, weights] = kernels.arena([10, 40]);
    const steps = drawTransforms(robustnessTransforms(defaultLucidParams.transforms), { height: 17, width: 17 }, createRandom(1));
    expect(() => setUpSampler(kernels.exports, { height: 17, width: 17 }, steps, corner, weights)).toThrow(/needs corner >= 841/);
  });
});

describe('lucid pixel kernels: colour and sigmoid', () => {
  const cases = [
    { plane: 224 * 224, n: 3 },
    { plane: 17 * 17, n: 3 },
    { plane: 30 * 30 + 3, n: 2 },
  ];

  for (const decorrelate of [true, false]) {
    for (const { plane, n } of cases) {
      it(`planesToRgb and its adjoint match colour.ts (${n} images of ${plane} px, decorrelate ${decorrelate})`, () => {
        const matrix = colourMatrix(decorrelate);
        const m = colourMatrixArguments(matrix);
        const kernels = createKernels();
        const length = n * 3 * plane;
        const [planes, rgb, gradient, out] = kernels.arena([length, length, length, length]);
        // Logits up to about +-15 (and beyond, through the decorrelation's mixing).
        planes.view.set(randomArray(length, plane + 1, -15, 15));
        kernels.exports.planesToRgb(planes.offset, rgb.offset, n, plane, ...m);
        const js = planesToRgb(planes.view, n, plane, matrix);
        expect(relativeError(rgb.view, js)).toBeLessThan(1e-5);
        // Saturated only where float32 saturates the JavaScript's too.
        expect(rgb.view.every((v, i) => v > 0 && v <= 1 && (v < 1 || js[i] === 1))).toBe(true);

        const kernelRgb = rgb.view.slice();
        gradient.view.set(randomArray(length, plane + 2));
        rgb.view.set(js);
        kernels.exports.rgbToPlanesGradient(gradient.offset, rgb.offset, out.offset, n, plane, ...m);
        expect(relativeError(out.view, rgbToPlanesGradient(gradient.view, js, n, plane, matrix))).toBeLessThan(1e-5);
        // In place: the same numbers.
        kernels.exports.rgbToPlanesGradient(gradient.offset, rgb.offset, gradient.offset, n, plane, ...m);
        expect(firstDifference(gradient.view, out.view)).toBe(-1);
        kernels.exports.planesToRgb(planes.offset, planes.offset, n, plane, ...m);
        expect(firstDifference(planes.view, kernelRgb)).toBe(-1);
      });
    }
  }

  it('the sigmoid is strictly inside (0, 1) for |logit| < 15 and saturates without NaN or Inf far beyond', () => {
    const kernels = createKernels();
    const logits = new Float32Array([-14.99, -10, -1e-3, 0, 1e-3, 10, 14.99, -15.5, 16, -80, 80, -89, 89, -1000, 1000, -3e38, 3e38]);
    const [planes, rgb] = kernels.arena([3 * logits.length, 3 * logits.length]);
    // The identity matrix: each plane's value is its logit.
    for (let c = 0; c < 3; c++) planes.view.set(logits, c * logits.length);
    kernels.exports.planesToRgb(planes.offset, rgb.offset, 1, logits.length, ...colourMatrixArguments(colourMatrix(false)));
    const js = planesToRgb(planes.view, 1, logits.length, colourMatrix(false));
    for (let i = 0; i < rgb.view.length; i++) {
      const logit = planes.view[i];
      expect(Number.isFinite(rgb.view[i]), `logit ${logit}`).toBe(true);
      expect(Math.abs(rgb.view[i] - js[i]), `logit ${logit}`).toBeLessThan(1e-7);
      if (Math.abs(logit) < 15) expect(rgb.view[i] > 0 && rgb.view[i] < 1, `logit ${logit}`).toBe(true);
    }
  });

  it('its exp is within 2e-7 of Math.exp (relative) from -86 to 88 and clamps beyond', () => {
    const count = 174_003;
    const kernels = createKernels();
    const [input, output] = kernels.arena([count, count]);
    for (let i = 0; i < count; i++) input.view[i] = -86 + (174 * i) / (count - 4);
    input.view.set([-1000, 1000, 0], count - 3);
    kernels.exports.expValues(input.offset, output.offset, count);
    let worst = 0;
    for (let i = 0; i < count - 3; i++) worst = Math.max(worst, Math.abs(output.view[i] / Math.exp(input.view[i]) - 1));
    expect(worst).toBeLessThan(2e-7);
    expect([...output.view.subarray(count - 3)]).toEqual([Math.fround(Math.exp(-86)), expect.closeTo(Math.exp(88), -33), 1]);
  });
});
