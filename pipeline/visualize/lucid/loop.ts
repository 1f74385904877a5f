/**
 * The lucid loop: wires the parts (Fourier parameterisation, colour decorrelation + sigmoid,
 * robustness transforms, objective, Adam) for a batch of images and only wires. Per step:
 * spectrum -> planes -> RGB -> transformed copy -> engine (objective and d objective / d copy) ->
 * adjoints back to the spectrum -> one Adam step on the loss -objective.
 */
import type { Engine } from '../../engine/engine.js';
import { createRandom, deriveSeed } from '../../util/random.js';
import { createAdam } from '../adam.js';
import { allFinite, anyNonZero, type AscentResult } from '../loop.js';
import { colourMatrix, planesToRgb, rgbToPlanesGradient } from './colour.js';
import { fourierBasis, planesToSpectrumGradient, spectrumToPlanes } from './fourier.js';
import type { LucidObjective } from './objective.js';
import type { LucidParams } from '../../schema/lucid-params.js';
import { drawTransforms, robustnessTransforms, sampler } from './transforms.js';

export interface LucidInput {
  objective: LucidObjective;
  /** Images optimised together (filters x images per filter). */
  n: number;
  /** Which start spectrum each image gets (0 for a single image per filter; the copy index in a diversity group). */
  copies: readonly number[];
  params: LucidParams;
  learningRate: number;
  seed: number;
  signal?: AbortSignal;
  onStep?: (done: number, total: number) => void;
}

/** A standard normal from two uniforms (Box-Muller), for the start spectrum. */
function normal(random: ReturnType<typeof createRandom>): number {
  const u = 1 - random.next(); // (0, 1]: log(0) never happens
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random.next());
}

/**
 * Start spectra: normal noise of std initStd, one per copy index and seed (never per filter or batch
 * position: as the article's start noise, a unit that moves to another index starts from the same image).
 */
export function startSpectra(perImage: number, copies: readonly number[], params: Pick<LucidParams, 'initStd'>, seed: number): Float32Array {
  const out = new Float32Array(copies.length * perImage);
  const made = new Map<number, Float32Array>();
  copies.forEach((copy, i) => {
    let spectrum = made.get(copy);
    if (!spectrum) {
      const random = createRandom(deriveSeed(seed, 2, copy));
      spectrum = new Float32Array(perImage).map(() => params.initStd * normal(random));
      made.set(copy, spectrum);
    }
    out.set(spectrum, i * perImage);
  });
  return out;
}

/** The picture of a spectrum: sigmoid(colour(irfft2(scaled spectrum))), n x 3 x size x size. */
export function spectrumToRgb(params: LucidParams, spectrum: Float32Array, n: number): Float32Array {
  const basis = fourierBasis(params.size, params.decayPower);
  return planesToRgb(spectrumToPlanes(basis, spectrum, n), n, params.size * params.size, colourMatrix(params.decorrelate));
}

export async function runLucid(engine: Engine, input: LucidInput): Promise<AscentResult> {
  const { params, n, signal } = input;
  const size = params.size;
  const plane = size * size;
  const basis = fourierBasis(size, params.decayPower);
  const matrix = colourMatrix(params.decorrelate);
  const transforms = robustnessTransforms(params.transforms);
  // One stream of transform draws per seed: every image of every batch sees the same sequence.
  const random = createRandom(deriveSeed(input.seed, 3));
  const spectrum = startSpectra(basis.perImage, input.copies, params, input.seed);
  const adam = createAdam(spectrum.length, { learningRate: input.learningRate, weightDecay: 0 });
  const start = new Float64Array(n).fill(Number.NaN);
  const best = new Float64Array(n).fill(-Infinity);
  const gradientSeen = new Array<boolean>(n).fill(false);
  const diverged = new Array<boolean>(n).fill(false);
  // Buffers reused by every step (issue 25: allocating them per step cost a tenth of the JavaScript's time).
  const picture = { height: size, width: size };
  const planes = new Float32Array(n * 3 * plane);
  const rgb = new Float32Array(n * 3 * plane);
  let seen = new Float32Array(0);
  const dRgb = new Float32Array(n * 3 * plane);
  const dPlanes = new Float32Array(n * 3 * plane);
  const dSpectrum = new Float32Array(spectrum.length);
  for (let step = 0; step < params.steps; step++) {
    signal?.throwIfAborted();
    planesToRgb(spectrumToPlanes(basis, spectrum, n, planes), n, plane, matrix, rgb);
    const view = sampler(picture, drawTransforms(transforms, picture, random), params.transforms.padValue);
    const { height, width } = view.output;
    if (seen.length !== n * 3 * height * width) seen = new Float32Array(n * 3 * height * width);
    view.forward(rgb, 3 * n, seen);
    const result = await input.objective.evaluate(engine, { data: seen, n, height, width });
    const perSeen = 3 * height * width;
    for (let i = 0; i < n; i++) {
      if (diverged[i]) continue;
      const value = result.objective[i];
      if (!Number.isFinite(value) || !allFinite(result.gradient, i * perSeen, (i + 1) * perSeen)) {
        diverged[i] = true;
        continue;
      }
      if (Number.isNaN(start[i])) start[i] = value;
      if (value > best[i]) best[i] = value;
      if (!gradientSeen[i] && anyNonZero(result.gradient, i * perSeen, (i + 1) * perSeen)) gradientSeen[i] = true;
    }
    // A diverged image's gradient is zeroed so that its NaNs cannot reach anything else.
    for (let i = 0; i < n; i++) if (diverged[i]) result.gradient.fill(0, i * perSeen, (i + 1) * perSeen);
    view.adjoint(result.gradient, 3 * n, dRgb);
    planesToSpectrumGradient(basis, rgbToPlanesGradient(dRgb, rgb, n, plane, matrix, dPlanes), n, dSpectrum);
    // Minimise -objective.
    for (let i = 0; i < dSpectrum.length; i++) dSpectrum[i] = -dSpectrum[i];
    adam.step(spectrum, dSpectrum, (i) => diverged[i], basis.perImage);
    input.onStep?.(step + 1, params.steps);
  }
  const images = planesToRgb(spectrumToPlanes(basis, spectrum, n), n, plane, matrix);
  for (let i = 0; i < n; i++) if (!allFinite(images, i * 3 * plane, (i + 1) * 3 * plane)) diverged[i] = true;
  return { images, size, start, best, gradientSeen, diverged };
}
