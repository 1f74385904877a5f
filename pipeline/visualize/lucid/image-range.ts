/**
 * One thread's share of a lucid batch: the images [first, first + count) of every step's work outside
 * the engine (spectrum -> planes -> RGB -> transformed copy, and after the engine the adjoints back to
 * the spectrum and its Adam step). Images are independent in all of these, so a batch cut into ranges
 * gives the same numbers bit for bit whichever thread computes a range (threads.ts runs the ranges).
 *
 * The range's arrays live in its own WebAssembly instance's memory (kernels.ts), where the kernels run:
 * the spectra and Adam's moments stay there for the whole run. The batch's shared arrays
 * (SharedArrayBuffer) only carry what crosses threads: the start spectra in, each step's copies out to
 * the engine and its gradient in, and the pictures out when asked for.
 */
import { adamScalars } from '../adam.js';
import type { LucidParams } from '../../schema/lucid-params.js';
import { colourMatrix } from './colour.js';
import { fourierBasis, type FourierBasis } from './fourier.js';
import { colourMatrixArguments, createKernels, fourierScratchLength, fourierTablesLength, samplerLengths, setUpSampler, writeFourierTables } from './kernels.js';
import type { AffineStep } from './transforms.js';

/** The batch's arrays every thread reads and writes, each n images long. */
export interface SharedArrays {
  /** n x perImage: the start spectra (read by the ranges when they are set up). */
  spectrum: Float32Array;
  /** n x 3 x size x size: the pictures of the last forward phase without draws. */
  rgb: Float32Array;
  /** n x 3 x seen x seen: the transformed copies the engine reads. */
  seen: Float32Array;
  /** Like seen: d objective / d copy, as the engine returned it. */
  gradient: Float32Array;
  /** Per image, what the last backward phase found in its gradient: kernels.ts gradientStatus's bits (0 when frozen). */
  status: Int32Array;
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
  buffers: { spectrum: ArrayBufferLike; rgb: ArrayBufferLike; seen: ArrayBufferLike; gradient: ArrayBufferLike; status: ArrayBufferLike };
}

export interface ImageRange {
  /**
   * Pictures from the spectra; with the step's transform draws, the engine's copies too (into the
   * shared `seen`); without (null), the pictures into the shared `rgb`.
   */
  forward(draws: readonly AffineStep[] | null): void;
  /**
   * From the engine's gradient (of the last forward's copies) to one Adam step. `frozen[i]` skips image
   * first + i; so does a gradient that is not all finite (reported in the shared `status`, as whether it
   * has a non-zero value): its values are zeroed first, so that no NaN reaches anything else.
   */
  backward(frozen: readonly boolean[]): void;
}

export function sharedArrays(setup: Pick<RangeSetup, 'buffers'>): SharedArrays {
  const { spectrum, rgb, seen, gradient, status } = setup.buffers;
  return { spectrum: new Float32Array(spectrum), rgb: new Float32Array(rgb), seen: new Float32Array(seen), gradient: new Float32Array(gradient), status: new Int32Array(status) };
}

/** gradientStatus's bits: every value finite; one at least not zero. */
export const GRADIENT_FINITE = 1;
export const GRADIENT_NON_ZERO = 2;

/** Adam's constants (torch.optim.Adam's defaults, as Lucid's tf.train.AdamOptimizer). */
const BETA1 = 0.9;
const BETA2 = 0.999;
const EPS = 1e-8;

export function createImageRange(setup: RangeSetup): ImageRange {
  const { params, first, count, seenSize } = setup;
  const basis: FourierBasis = fourierBasis(params.size, params.decayPower);
  const matrix = colourMatrixArguments(colourMatrix(params.decorrelate));
  const plane = params.size * params.size;
  const perImage = basis.perImage;
  const perPicture = 3 * plane;
  const perSeen = 3 * seenSize * seenSize;
  const shared = sharedArrays(setup);
  const slice = (array: Float32Array, per: number) => array.subarray(first * per, (first + count) * per);
  const out = { rgb: slice(shared.rgb, perPicture), seen: slice(shared.seen, perSeen), gradient: slice(shared.gradient, perSeen), status: shared.status.subarray(first, first + count) };
  const { size, grid } = basis;
  const picture = { height: size, width: size };
  const seenPicture = { height: seenSize, width: seenSize };
  const sampling = samplerLengths(picture, seenPicture);
  const kernels = createKernels();
  const run = kernels.exports;
  // dRgb doubles as d planes: the colour adjoint runs in place.
  const [spectrum, m, v, dSpectrum, planes, rgb, dRgb, seen, gradient, tables, fourierScratch, corner, weights, samplerScratch] = kernels.arena([
    ...[0, 0, 0, 0].map(() => count * perImage),
    ...[0, 0, 0].map(() => count * perPicture),
    count * perSeen,
    count * perSeen,
    fourierTablesLength(grid),
    fourierScratchLength(grid),
    sampling.corner,
    sampling.weights,
    sampling.scratch,
  ]);
  writeFourierTables(basis, tables);
  spectrum.view.set(slice(shared.spectrum, perImage));
  let sampled = false;
  let steps = 0;
  return {
    forward(draws) {
      run.spectrumToPlanes(tables.offset, spectrum.offset, planes.offset, count, size, grid, fourierScratch.offset);
      run.planesToRgb(planes.offset, rgb.offset, count, plane, ...matrix);
      sampled = false;
      if (!draws) {
        out.rgb.set(rgb.view);
        return;
      }
      const output = setUpSampler(run, picture, draws, corner, weights);
      if (output.height !== seenSize || output.width !== seenSize) {
        throw new RangeError(`lucid: the transforms give ${output.height} x ${output.width} px, the batch was set up for ${seenSize} px`);
      }
      run.samplerForward(rgb.offset, seen.offset, count, size, size, seenSize, seenSize, params.transforms.padValue, corner.offset, weights.offset, samplerScratch.offset);
      out.seen.set(seen.view);
      sampled = true;
    },
    backward(frozen) {
      if (!sampled) throw new Error('lucid: backward without the forward phase of the step');
      gradient.view.set(out.gradient);
      const skip = frozen.slice(0, count);
      for (let i = 0; i < count; i++) {
        out.status[i] = frozen[i] ? 0 : run.gradientStatus(gradient.offset + 4 * i * perSeen, perSeen);
        if (frozen[i] || !(out.status[i] & GRADIENT_FINITE)) {
          skip[i] = true;
          gradient.view.fill(0, i * perSeen, (i + 1) * perSeen);
        }
      }
      run.samplerAdjoint(gradient.offset, dRgb.offset, count, size, size, seenSize, seenSize, corner.offset, weights.offset, samplerScratch.offset);
      run.rgbToPlanesGradient(dRgb.offset, rgb.offset, dRgb.offset, count, plane, ...matrix);
      run.planesToSpectrumGradient(tables.offset, dRgb.offset, dSpectrum.offset, count, size, grid, fourierScratch.offset);
      steps += 1;
      const { stepSize, sqrtCorrection2 } = adamScalars(steps, { learningRate: setup.learningRate, weightDecay: 0, beta1: BETA1, beta2: BETA2, eps: EPS });
      for (let i = 0; i < count; i++) {
        if (skip[i]) continue;
        const at = 4 * i * perImage;
        // Sign -1: Adam minimises -objective.
        run.adamStep(spectrum.offset + at, dSpectrum.offset + at, m.offset + at, v.offset + at, perImage, -1, stepSize, sqrtCorrection2, BETA1, BETA2, EPS);
      }
    },
  };
}
