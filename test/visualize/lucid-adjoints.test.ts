/**
 * The lucid method's linear parts and their adjoints: the Fourier parameterisation against a naive
 * inverse DFT, and each adjoint against the forward map (<A x, y> = <x, A^T y>) and against central
 * finite differences of a scalar loss, as the engine's gradient rules are tested; the diversity
 * penalty's gradient against finite differences too.
 */
import { describe, expect, it } from 'vitest';
import { createRandom } from '../../pipeline/util/random.js';
import { colourMatrix, COLOUR_CORRELATION_SVD_SQRT, planesToRgb, rgbToPlanesGradient } from '../../pipeline/visualize/lucid/colour.js';
import { fourierBasis, LUCID_IMAGE_DIVISOR, planesToSpectrumGradient, spectrumToPlanes } from '../../pipeline/visualize/lucid/fourier.js';
import { centreIndex, diversityPenalty } from '../../pipeline/visualize/lucid/objective.js';
import { lucidParamsSchema } from '../../pipeline/schema/lucid-params.js';
import { drawTransforms, jitter, pad, randomRotate, randomScale, robustnessTransforms, sampler, type RobustTransform } from '../../pipeline/visualize/lucid/transforms.js';

function noise(length: number, seed: number, scale = 1): Float32Array {
  const random = createRandom(seed);
  return new Float32Array(length).map(() => scale * (2 * random.next() - 1));
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i] * b[i];
  return sum;
}

/** Relative agreement of <A x, y> and <x, A^T y>. */
function expectAdjoint(forward: (x: Float32Array) => Float32Array, adjoint: (y: Float32Array) => Float32Array, inputLength: number, outputLength: number): void {
  const x = noise(inputLength, 1);
  const y = noise(outputLength, 2);
  const left = dot(forward(x), y);
  const right = dot(x, adjoint(y));
  expect(Math.abs(left - right)).toBeLessThan(1e-4 * Math.max(1, Math.abs(left)));
}

/** The naive orthonormal inverse real 2-D DFT (numpy.fft.irfftn(norm='ortho')) of one plane's half spectrum. */
function naiveIrfft2(spectrum: Float32Array, scale: Float64Array, grid: number, offset: number): Float64Array {
  const half = grid / 2 + 1;
  const out = new Float64Array(grid * grid);
  for (let y = 0; y < grid; y++) {
    for (let x = 0; x < grid; x++) {
      let sum = 0;
      for (let ky = 0; ky < grid; ky++) {
        for (let kx = 0; kx < grid; kx++) {
          // The full spectrum from the half: X[ky, kx] = conj(X[-ky, -kx]).
          const mirrored = kx >= half;
          const [sy, sx] = mirrored ? [(grid - ky) % grid, grid - kx] : [ky, kx];
          const i = offset + (sy * half + sx) * 2;
          const s = scale[sy * half + sx];
          let re = spectrum[i] * s;
          let im = (mirrored ? -1 : 1) * spectrum[i + 1] * s;
          // irfftn keeps only the real part of the DC and Nyquist columns after the first axis: take
          // the Hermitian part of those columns instead, which is the same thing.
          if (sx === 0 || sx === half - 1) {
            const j = offset + (((grid - sy) % grid) * half + sx) * 2;
            re = (re + spectrum[j] * scale[((grid - sy) % grid) * half + sx]) / 2;
            im = (im - spectrum[j + 1] * scale[((grid - sy) % grid) * half + sx]) / 2;
          }
          const t = (2 * Math.PI * (ky * y + kx * x)) / grid;
          sum += re * Math.cos(t) - im * Math.sin(t);
        }
      }
      out[y * grid + x] = sum / grid;
    }
  }
  return out;
}

describe('Fourier parameterisation', () => {
  it('is the orthonormal inverse real 2-D DFT of the 1/f-scaled spectrum, cropped, over 4', () => {
    const basis = fourierBasis(6, 1); // grid 8
    expect([basis.grid, basis.half]).toEqual([8, 5]);
    const spectrum = noise(2 * basis.perImage, 3);
    const planes = spectrumToPlanes(basis, spectrum, 2);
    for (let p = 0; p < 6; p++) {
      const full = naiveIrfft2(spectrum, basis.scale, 8, p * 8 * 5 * 2);
      for (let y = 0; y < 6; y++) {
        for (let x = 0; x < 6; x++) expect(planes[p * 36 + y * 6 + x]).toBeCloseTo(full[y * 8 + x] / LUCID_IMAGE_DIVISOR, 4);
      }
    }
  });

  it("scales each frequency by 1 / max(f, 1/grid)^decay (Lucid's rfft2d_freqs)", () => {
    const basis = fourierBasis(16, 1);
    expect(basis.scale[0]).toBe(16); // DC: 1 / (1/16)
    expect(basis.scale[1]).toBeCloseTo(16); // f = 1/16
    expect(basis.scale[2]).toBeCloseTo(8); // f = 2/16
    expect(basis.scale[basis.half - 1]).toBeCloseTo(2); // Nyquist: f = 0.5
    expect(fourierBasis(16, 0).scale.every((s) => s === 1)).toBe(true);
  });

  it.each([[6], [8], [13], [32]])('has an adjoint that matches the forward map at side %i', (size) => {
    const basis = fourierBasis(size, 1);
    const n = 2;
    expectAdjoint((x) => spectrumToPlanes(basis, x, n), (y) => planesToSpectrumGradient(basis, y, n), n * basis.perImage, n * 3 * size * size);
  });

  it('has an adjoint that matches finite differences of a loss', () => {
    const basis = fourierBasis(7, 1);
    const spectrum = noise(basis.perImage, 4, 0.1);
    const weights = noise(3 * 49, 5);
    const loss = (s: Float32Array) => dot(spectrumToPlanes(basis, s, 1), weights);
    const gradient = planesToSpectrumGradient(basis, weights, 1);
    const random = createRandom(6);
    for (let t = 0; t < 20; t++) {
      const i = Math.floor(random.next() * spectrum.length);
      const h = 1e-2;
      const [plus, minus] = [spectrum.slice(), spectrum.slice()];
      plus[i] += h;
      minus[i] -= h;
      expect(gradient[i]).toBeCloseTo((loss(plus) - loss(minus)) / (2 * h), 3);
    }
  });
});

describe('colour decorrelation and sigmoid', () => {
  it("uses Lucid's square root of the ImageNet colour covariance, its strongest axis a unit step", () => {
    const m = colourMatrix(true);
    const norms = [0, 1, 2].map((j) => Math.hypot(m[0][j], m[1][j], m[2][j]));
    expect(Math.max(...norms)).toBeCloseTo(1, 6);
    // M M^T is the covariance (up to Lucid's normalisation): positive, luminance-dominated.
    const raw = COLOUR_CORRELATION_SVD_SQRT;
    const cov = (a: number, b: number) => raw[a][0] * raw[b][0] + raw[a][1] * raw[b][1] + raw[a][2] * raw[b][2];
    expect(cov(0, 1)).toBeGreaterThan(0.05);
    expect(cov(0, 0)).toBeCloseTo(0.26 ** 2 + 0.09 ** 2 + 0.02 ** 2, 6);
  });

  it('maps into (0, 1) and has an adjoint that matches finite differences', () => {
    const plane = 5;
    const planes = noise(2 * 3 * plane, 7, 3);
    const matrix = colourMatrix(true);
    const rgb = planesToRgb(planes, 2, plane, matrix);
    expect(rgb.every((v) => v > 0 && v < 1)).toBe(true);
    const weights = noise(rgb.length, 8);
    const gradient = rgbToPlanesGradient(weights, rgb, 2, plane, matrix);
    const loss = (p: Float32Array) => dot(planesToRgb(p, 2, plane, matrix), weights);
    for (let i = 0; i < planes.length; i++) {
      const h = 1e-2;
      const [plus, minus] = [planes.slice(), planes.slice()];
      plus[i] += h;
      minus[i] -= h;
      expect(gradient[i]).toBeCloseTo((loss(plus) - loss(minus)) / (2 * h), 3);
    }
  });
});

describe('robustness transforms', () => {
  const size = { height: 9, width: 11 };
  const single: Array<[string, RobustTransform]> = [
    ['pad', pad(3)],
    ['jitter', jitter(4)],
    ['scale', randomScale([0.9, 1.1, 1.05])],
    ['rotate', randomRotate([-10, 7, 3])],
  ];

  it.each(single)('%s has an adjoint that matches its forward map', (_name, transform) => {
    for (let seed = 0; seed < 4; seed++) {
      const view = sampler(size, drawTransforms([transform], size, createRandom(seed)), 0.5);
      const planes = 2 * 3;
      const inputLength = planes * size.height * size.width;
      const outputLength = planes * view.output.height * view.output.width;
      // The constant (the fill) is not linear in the input: take it out for the adjoint identity.
      const zero = view.forward(new Float32Array(inputLength), planes);
      expectAdjoint((x) => view.forward(x, planes).map((v, i) => v - zero[i]), (y) => view.adjoint(y, planes), inputLength, outputLength);
    }
  });

  it('pads with the fill value and crops exactly (whole pixels are copied, not interpolated)', () => {
    const image = noise(3 * 9 * 11, 9);
    const padded = sampler(size, drawTransforms([pad(2)], size, createRandom(1)), 0.5).forward(image, 3);
    expect(padded.length).toBe(3 * 13 * 15);
    expect(padded[0]).toBe(0.5);
    expect(padded[2 * 15 + 2]).toBe(image[0]);
    const steps = drawTransforms([pad(2), jitter(4)], size, createRandom(3));
    const cropped = sampler(size, steps, 0.5).forward(image, 3);
    expect(cropped.length).toBe(3 * 9 * 11);
    const [left, top] = steps[1].draw.replace('jitter ', '').split(',').map(Number);
    // Output (y, x) reads padded (y + top, x + left) = image (y + top - 2, x + left - 2).
    const [y, x] = [4, 5];
    expect(cropped[y * 11 + x]).toBe(image[(y + top - 2) * 11 + (x + left - 2)]);
  });

  it("composes Lucid's standard chain into one map with an adjoint, to the engine size", () => {
    const params = lucidParamsSchema.parse({ size: 20 });
    const picture = { height: 20, width: 20 };
    for (let seed = 0; seed < 3; seed++) {
      const steps = drawTransforms(robustnessTransforms(params.transforms), picture, createRandom(seed));
      expect(steps.map((s) => s.draw.split(' ')[0])).toEqual(['pad', 'jitter', 'scale', 'rotate', 'jitter']);
      const view = sampler(picture, steps, 0.5);
      expect(view.output).toMatchObject({ height: 20 + 24 - 12, width: 32 });
      const zero = view.forward(new Float32Array(3 * 400), 3);
      expectAdjoint((x) => view.forward(x, 3).map((v, i) => v - zero[i]), (y) => view.adjoint(y, 3), 3 * 400, 3 * 32 * 32);
    }
  });

  it('draws the same transforms for the same seed', () => {
    const list = robustnessTransforms(lucidParamsSchema.parse({}).transforms);
    const draws = (seed: number) => drawTransforms(list, { height: 32, width: 32 }, createRandom(seed)).map((s) => s.draw);
    expect(draws(4)).toEqual(draws(4));
    expect(Array.from({ length: 8 }, (_, s) => draws(s).join()).some((d) => d !== draws(4).join())).toBe(true);
  });
});

describe('diversity penalty (Lucent objectives.diversity)', () => {
  const maps = (data: Float32Array) => ({ data, n: 4, channels: 3, height: 2, width: 3 });

  it('is the mean cosine similarity of the Gram matrices within each group, and its gradient matches finite differences', () => {
    const data = noise(4 * 3 * 6, 11);
    const { penalty, gradient } = diversityPenalty(maps(data), 2);
    // Identical images in a group: cosine 1, each image's share (1 / B) x 1.
    const same = data.slice();
    same.copyWithin(3 * 6, 0, 3 * 6);
    expect(diversityPenalty(maps(same), 2).penalty[0]).toBeCloseTo(0.5, 6);
    const total = (d: Float32Array) => diversityPenalty(maps(d), 2).penalty.reduce((a, b) => a + b, 0);
    expect(total(data)).toBeCloseTo(penalty.reduce((a, b) => a + b, 0), 10);
    for (let i = 0; i < data.length; i += 3) {
      const h = 1e-3;
      const [plus, minus] = [data.slice(), data.slice()];
      plus[i] += h;
      minus[i] -= h;
      expect(gradient[i]).toBeCloseTo((total(plus) - total(minus)) / (2 * h), 3);
    }
    expect(() => diversityPenalty(maps(data), 3)).toThrow('diversity: 4 images do not make groups of 3');
  });

  it("takes Lucent's centre unit for the neuron objective", () => {
    expect(centreIndex(7, 7)).toBe(3 * 7 + 3);
    expect(centreIndex(4, 6)).toBe(2 * 6 + 3);
  });
});
