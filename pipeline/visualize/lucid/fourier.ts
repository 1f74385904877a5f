/**
 * Lucid's Fourier parameterisation (lucid/optvis/param/spatial.py `fft_image`): each colour plane is
 * the inverse real 2-D FFT (orthonormal) of a half spectrum, every frequency scaled by
 * 1 / max(f, 1/side)^decayPower so that the optimiser's steps are white in a space where natural
 * images have a 1/f spectrum; then divided by Lucid's constant 4. Plus its adjoint (the transpose of
 * the linear map), which carries d loss / d image back to the spectrum.
 *
 * fft.js only does powers of two, so the spectrum lives on a grid of the next power of two at or above
 * the picture's side and the picture is the grid's top-left size x size crop (its adjoint: zero
 * padding). Lucid itself crops for odd sides; the distribution of images is translation invariant,
 * so which corner is kept does not matter.
 *
 * Layout of a spectrum: per image, per colour plane, grid rows (ky) x (grid/2 + 1) columns (kx),
 * interleaved (re, im).
 */
import FFT from 'fft.js';

/** Lucid's "magic constant": the image is divided by 4 ("increasing this seems to reduce saturation"). */
export const LUCID_IMAGE_DIVISOR = 4;

export interface FourierBasis {
  /** Side of the picture. */
  size: number;
  /** Side of the FFT grid: the next power of two >= size. */
  grid: number;
  /** grid / 2 + 1. */
  half: number;
  /** Real frequency scale per (ky, kx), grid x half. */
  scale: Float64Array;
  /** Spectrum values per image (3 planes x grid x half x 2). */
  perImage: number;
}

/** numpy.fft.fftfreq(n)[i]. */
function fftfreq(i: number, n: number): number {
  return (i < Math.ceil(n / 2) ? i : i - n) / n;
}

export function fourierBasis(size: number, decayPower: number): FourierBasis {
  let grid = 2;
  while (grid < size) grid *= 2;
  const half = grid / 2 + 1;
  const scale = new Float64Array(grid * half);
  for (let ky = 0; ky < grid; ky++) {
    const fy = fftfreq(ky, grid);
    for (let kx = 0; kx < half; kx++) {
      // Lucid's rfft2d_freqs keeps fftfreq's sign for the last column (-0.5): only f^2 matters.
      const fx = fftfreq(kx, grid);
      const f = Math.sqrt(fx * fx + fy * fy);
      scale[ky * half + kx] = 1 / Math.max(f, 1 / grid) ** decayPower;
    }
  }
  return { size, grid, half, scale, perImage: 3 * grid * half * 2 };
}

/** Decorrelated planes (n x 3 x size x size) from spectra (n x perImage). */
export function spectrumToPlanes(basis: FourierBasis, spectrum: Float32Array, n: number): Float32Array {
  const { size, grid, half, scale } = basis;
  const fft = new FFT(grid);
  const root = Math.sqrt(grid);
  const columns = new Float64Array(grid * half * 2); // after the inverse transform along ky, [y][kx]
  const colIn = new Float64Array(2 * grid);
  const colOut = new Float64Array(2 * grid);
  const rowIn = new Float64Array(2 * grid);
  const rowOut = new Float64Array(2 * grid);
  const out = new Float32Array(n * 3 * size * size);
  const gain = root / LUCID_IMAGE_DIVISOR; // fft.js divides by N: x sqrt(N) makes it orthonormal per axis
  for (let p = 0; p < n * 3; p++) {
    const base = p * grid * half * 2;
    // 1. Complex inverse FFT along ky for every column kx (orthonormal).
    for (let kx = 0; kx < half; kx++) {
      for (let ky = 0; ky < grid; ky++) {
        const s = scale[ky * half + kx];
        const i = base + (ky * half + kx) * 2;
        colIn[2 * ky] = spectrum[i] * s;
        colIn[2 * ky + 1] = spectrum[i + 1] * s;
      }
      fft.inverseTransform(colOut, colIn);
      for (let y = 0; y < size; y++) {
        columns[(y * half + kx) * 2] = colOut[2 * y] * root;
        columns[(y * half + kx) * 2 + 1] = colOut[2 * y + 1] * root;
      }
    }
    // 2. Inverse real FFT along kx for the rows kept: the Hermitian spectrum completed, imaginary
    //    parts of the DC and Nyquist bins dropped (numpy's irfft). Two rows per complex FFT: with
    //    Z = A + iB for the completed spectra A, B of two rows, ifft(Z) = a + ib (a, b real).
    for (let y = 0; y < size; y += 2) {
      const second = y + 1 < size;
      for (let k = 0; k < grid; k++) {
        const kx = k < half ? k : grid - k;
        const sign = k < half ? 1 : -1; // conjugate for the mirrored half
        const edge = kx === 0 || kx === half - 1;
        const a = (y * half + kx) * 2;
        const [ar, ai] = [columns[a], edge ? 0 : sign * columns[a + 1]];
        const b = ((y + 1) * half + kx) * 2;
        const [br, bi] = second ? [columns[b], edge ? 0 : sign * columns[b + 1]] : [0, 0];
        rowIn[2 * k] = ar - bi;
        rowIn[2 * k + 1] = ai + br;
      }
      fft.inverseTransform(rowOut, rowIn);
      const dst = p * size * size + y * size;
      for (let x = 0; x < size; x++) out[dst + x] = rowOut[2 * x] * gain;
      if (second) for (let x = 0; x < size; x++) out[dst + size + x] = rowOut[2 * x + 1] * gain;
    }
  }
  return out;
}

/** The adjoint of spectrumToPlanes: d loss / d spectrum from d loss / d planes. */
export function planesToSpectrumGradient(basis: FourierBasis, gradient: Float32Array, n: number): Float32Array {
  const { size, grid, half, scale } = basis;
  const fft = new FFT(grid);
  const root = Math.sqrt(grid);
  const rows = new Float64Array(grid * half * 2); // d / d (column-transformed values), [y][kx]
  const rowIn = new Float64Array(2 * grid);
  const rowOut = new Float64Array(2 * grid);
  const colIn = new Float64Array(2 * grid);
  const colOut = new Float64Array(2 * grid);
  const out = new Float32Array(n * basis.perImage);
  const gain = 1 / (root * LUCID_IMAGE_DIVISOR);
  for (let p = 0; p < n * 3; p++) {
    rows.fill(0);
    // 2'. Transpose of the inverse real FFT: a forward FFT of the zero-padded row, doubled for the
    //     bins that stand for a conjugate pair too; DC and Nyquist imaginary parts get nothing.
    //     Two rows per complex FFT: Z = fft(g + ih) gives G[k] = (Z[k] + conj Z[-k]) / 2 and
    //     H[k] = (Z[k] - conj Z[-k]) / 2i.
    for (let y = 0; y < size; y += 2) {
      const second = y + 1 < size;
      rowIn.fill(0);
      const src = p * size * size + y * size;
      for (let x = 0; x < size; x++) rowIn[2 * x] = gradient[src + x];
      if (second) for (let x = 0; x < size; x++) rowIn[2 * x + 1] = gradient[src + size + x];
      fft.transform(rowOut, rowIn);
      for (let kx = 0; kx < half; kx++) {
        const m = (grid - kx) % grid;
        const [zr, zi, wr, wi] = [rowOut[2 * kx], rowOut[2 * kx + 1], rowOut[2 * m], -rowOut[2 * m + 1]];
        const edge = kx === 0 || kx === half - 1;
        const factor = gain * (edge ? 1 : 2);
        const a = (y * half + kx) * 2;
        rows[a] = ((zr + wr) / 2) * factor;
        rows[a + 1] = edge ? 0 : ((zi + wi) / 2) * factor;
        if (second) {
          const b = ((y + 1) * half + kx) * 2;
          rows[b] = ((zi - wi) / 2) * factor;
          rows[b + 1] = edge ? 0 : (-(zr - wr) / 2) * factor;
        }
      }
    }
    // 1'. Transpose of the orthonormal inverse FFT along ky: the orthonormal forward FFT; then the scale.
    const base = p * grid * half * 2;
    for (let kx = 0; kx < half; kx++) {
      colIn.fill(0);
      for (let y = 0; y < size; y++) {
        colIn[2 * y] = rows[(y * half + kx) * 2];
        colIn[2 * y + 1] = rows[(y * half + kx) * 2 + 1];
      }
      fft.transform(colOut, colIn);
      for (let ky = 0; ky < grid; ky++) {
        const s = scale[ky * half + kx] / root;
        const i = base + (ky * half + kx) * 2;
        out[i] = colOut[2 * ky] * s;
        out[i + 1] = colOut[2 * ky + 1] * s;
      }
    }
  }
  return out;
}
