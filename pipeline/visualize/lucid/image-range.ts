/**
 * One thread's share of a lucid batch: the images [first, first + count) of every step's JavaScript
 * (spectrum -> planes -> RGB -> transformed copy, and after the engine the adjoints back to the
 * spectrum and its Adam step). Images are independent in all of these, so a batch cut into ranges
 * gives the same numbers bit for bit whichever thread computes a range (threads.ts runs the ranges).
 * The arrays every thread and the engine see are shared (SharedArrayBuffer); scratch, the Fourier
 * basis and the Adam moments are the range's own.
 */
import { createAdam, type Adam } from '../adam.js';
import type { LucidParams } from '../../schema/lucid-params.js';
import { colourMatrix, planesToRgb, rgbToPlanesGradient } from './colour.js';
import { fourierBasis, planesToSpectrumGradient, spectrumToPlanes, type FourierBasis } from './fourier.js';
import { sampler, type AffineStep, type Sampler } from './transforms.js';

/** The batch's arrays every thread reads and writes, each n images long. */
export interface SharedArrays {
  /** n x perImage: the optimised spectra. */
  spectrum: Float32Array;
  /** n x 3 x size x size: the pictures of the last forward phase. */
  rgb: Float32Array;
  /** n x 3 x seen x seen: the transformed copies the engine reads. */
  seen: Float32Array;
  /** Like seen: d objective / d copy, as the engine returned it. */
  gradient: Float32Array;
}

export interface RangeSetup {
  params: LucidParams;
  learningRate: number;
  /** Images in the whole batch. */
  n: number;
  first: number;
  count: number;
  /** Side of the copies the engine sees. */
  seenSize: number;
  /** The batch's shared buffers (SharedArrayBuffer in threads, plain ones on one thread). */
  buffers: { spectrum: ArrayBufferLike; rgb: ArrayBufferLike; seen: ArrayBufferLike; gradient: ArrayBufferLike };
}

export interface ImageRange {
  /** Pictures from the spectra; with the step's transform draws, the engine's copies too. */
  forward(draws: readonly AffineStep[] | null): void;
  /** From the engine's gradient (of the last forward's copies) to one Adam step; `frozen[i]` skips image first + i. */
  backward(frozen: readonly boolean[]): void;
}

export function sharedArrays(setup: Pick<RangeSetup, 'buffers'>): SharedArrays {
  const { spectrum, rgb, seen, gradient } = setup.buffers;
  return { spectrum: new Float32Array(spectrum), rgb: new Float32Array(rgb), seen: new Float32Array(seen), gradient: new Float32Array(gradient) };
}

export function createImageRange(setup: RangeSetup): ImageRange {
  const { params, first, count, seenSize } = setup;
  const basis: FourierBasis = fourierBasis(params.size, params.decayPower);
  const matrix = colourMatrix(params.decorrelate);
  const plane = params.size * params.size;
  const seenPlane = seenSize * seenSize;
  const all = sharedArrays(setup);
  const slice = (array: Float32Array, per: number) => array.subarray(first * per, (first + count) * per);
  const spectrum = slice(all.spectrum, basis.perImage);
  const rgb = slice(all.rgb, 3 * plane);
  const seen = slice(all.seen, 3 * seenPlane);
  const gradient = slice(all.gradient, 3 * seenPlane);
  const planes = new Float32Array(count * 3 * plane);
  const dRgb = new Float32Array(count * 3 * plane);
  const dPlanes = new Float32Array(count * 3 * plane);
  const dSpectrum = new Float32Array(count * basis.perImage);
  const adam: Adam = createAdam(dSpectrum.length, { learningRate: setup.learningRate, weightDecay: 0 });
  const picture = { height: params.size, width: params.size };
  let view: Sampler | undefined;
  return {
    forward(draws) {
      planesToRgb(spectrumToPlanes(basis, spectrum, count, planes), count, plane, matrix, rgb);
      view = undefined;
      if (!draws) return;
      view = sampler(picture, draws, params.transforms.padValue);
      if (view.output.height !== seenSize || view.output.width !== seenSize) {
        throw new RangeError(`lucid: the transforms give ${view.output.height} x ${view.output.width} px, the batch was set up for ${seenSize} px`);
      }
      view.forward(rgb, 3 * count, seen);
    },
    backward(frozen) {
      if (!view) throw new Error('lucid: backward without the forward phase of the step');
      view.adjoint(gradient, 3 * count, dRgb);
      planesToSpectrumGradient(basis, rgbToPlanesGradient(dRgb, rgb, count, plane, matrix, dPlanes), count, dSpectrum);
      // Minimise -objective.
      for (let i = 0; i < dSpectrum.length; i++) dSpectrum[i] = -dSpectrum[i];
      adam.step(spectrum, dSpectrum, (i) => frozen[i], basis.perImage);
    },
  };
}
