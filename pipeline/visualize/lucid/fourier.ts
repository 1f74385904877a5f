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
 *
 * Speed (issue 25: this runs twice per image per step, as long as a third of the engine's step): the
 * transform along ky is done for all kx columns at once, butterfly by butterfly over whole rows
 * (`transformColumns`), which reads memory in order instead of gathering one strided column per FFT; the
 * rows use fft.js, two real rows per complex FFT; scratch buffers live in the basis, so a step allocates
 * nothing but its result (or nothing, given `out`).
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
  /** Scratch and tables of the transforms, made once per basis (a basis is used by one loop at a time). */
  readonly work: FourierWork;
}

interface FourierWork {
  fft: FFT;
  /** Bit reversal of the grid's row indices. */
  bitrev: Int32Array;
  /** scale / sqrt(grid): the scale with the orthonormal ky transform's factor. */
  scaleRoot: Float64Array;
  /** cos and sin of 2 pi k / grid, k < grid / 2. */
  cos: Float64Array;
  sin: Float64Array;
  /** One plane's grid x half complex values. */
  plane: Float64Array;
  rowIn: Float64Array;
  rowOut: Float64Array;
}

/** numpy.fft.fftfreq(n)[i]. */
function fftfreq(i: number, n: number): number {
  return (i < Math.ceil(n / 2) ? i : i - n) / n;
}

function fourierWork(grid: number, half: number, scale: Float64Array): FourierWork {
  const bits = Math.log2(grid);
  const bitrev = new Int32Array(grid);
  for (let i = 0; i < grid; i++) {
    let r = 0;
    for (let b = 0; b < bits; b++) r |= ((i >> b) & 1) << (bits - 1 - b);
    bitrev[i] = r;
  }
  const cos = new Float64Array(grid / 2);
  const sin = new Float64Array(grid / 2);
  for (let k = 0; k < grid / 2; k++) [cos[k], sin[k]] = [Math.cos((2 * Math.PI * k) / grid), Math.sin((2 * Math.PI * k) / grid)];
  const scaleRoot = scale.map((v) => v / Math.sqrt(grid));
  return { fft: new FFT(grid), bitrev, scaleRoot, cos, sin, plane: new Float64Array(grid * half * 2), rowIn: new Float64Array(2 * grid), rowOut: new Float64Array(2 * grid) };
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
  return { size, grid, half, scale, perImage: 3 * grid * half * 2, work: fourierWork(grid, half, scale) };
}

/**
 * In place, the unnormalised DFT along the rows of `data` (grid rows of `width` interleaved complex
 * values), for every column at once: sum_r x[r] exp(sign 2 pi i r k / grid). Radix-2 decimation in
 * time: the rows must come in bit-reversed order; they leave in natural order.
 */
function transformColumns(work: FourierWork, data: Float64Array, grid: number, width: number, sign: 1 | -1): void {
  const { cos, sin } = work;
  const stride = 2 * width;
  for (let len = 2; len <= grid; len *= 2) {
    const halfLen = len / 2;
    const step = grid / len;
    for (let j = 0; j < halfLen; j++) {
      const wr = cos[j * step];
      const wi = sign * sin[j * step];
      for (let start = 0; start < grid; start += len) {
        const a = (start + j) * stride;
        const b = a + halfLen * stride;
        for (let c = 0; c < stride; c += 2) {
          const xr = data[b + c];
          const xi = data[b + c + 1];
          const tr = wr * xr - wi * xi;
          const ti = wr * xi + wi * xr;
          const ur = data[a + c];
          const ui = data[a + c + 1];
          data[a + c] = ur + tr;
          data[a + c + 1] = ui + ti;
          data[b + c] = ur - tr;
          data[b + c + 1] = ui - ti;
        }
      }
    }
  }
}

/** Decorrelated planes (n x 3 x size x size) from spectra (n x perImage), into `out` when given. */
export function spectrumToPlanes(basis: FourierBasis, spectrum: Float32Array, n: number, out: Float32Array = new Float32Array(n * 3 * basis.size * basis.size)): Float32Array {
  const { size, grid, half, work } = basis;
  const { fft, bitrev, scaleRoot, plane: columns, rowIn, rowOut } = work;
  const width = half * 2;
  const gain = Math.sqrt(grid) / LUCID_IMAGE_DIVISOR; // fft.js divides by N: x sqrt(N) makes it orthonormal per axis
  for (let p = 0; p < n * 3; p++) {
    const base = p * grid * width;
    // 1. Orthonormal complex inverse DFT along ky for every column kx: the scaled rows loaded in bit-reversed order.
    for (let ky = 0; ky < grid; ky++) {
      const src = base + ky * width;
      const dst = bitrev[ky] * width;
      const scaleRow = ky * half;
      for (let kx = 0; kx < half; kx++) {
        const s = scaleRoot[scaleRow + kx];
        columns[dst + 2 * kx] = spectrum[src + 2 * kx] * s;
        columns[dst + 2 * kx + 1] = spectrum[src + 2 * kx + 1] * s;
      }
    }
    transformColumns(work, columns, grid, half, 1);
    // 2. Inverse real FFT along kx for the rows kept: the Hermitian spectrum completed, imaginary
    //    parts of the DC and Nyquist bins dropped (numpy's irfft). Two rows per complex FFT: with
    //    Z = A + iB for the completed spectra A, B of two rows, ifft(Z) = a + ib (a, b real).
    for (let y = 0; y < size; y += 2) {
      const second = y + 1 < size;
      const a = y * width;
      const b = a + width;
      // DC and Nyquist: real parts only.
      const nyquist = 2 * (half - 1);
      rowIn[0] = columns[a];
      rowIn[1] = second ? columns[b] : 0;
      rowIn[nyquist] = columns[a + nyquist];
      rowIn[nyquist + 1] = second ? columns[b + nyquist] : 0;
      for (let k = 1; k < half - 1; k++) {
        const ar = columns[a + 2 * k];
        const ai = columns[a + 2 * k + 1];
        const br = second ? columns[b + 2 * k] : 0;
        const bi = second ? columns[b + 2 * k + 1] : 0;
        // Z[k] = A[k] + i B[k]; Z[grid - k] = conj(A[k]) + i conj(B[k]).
        rowIn[2 * k] = ar - bi;
        rowIn[2 * k + 1] = ai + br;
        const m = 2 * (grid - k);
        rowIn[m] = ar + bi;
        rowIn[m + 1] = br - ai;
      }
      fft.inverseTransform(rowOut, rowIn);
      const dst = p * size * size + y * size;
      for (let x = 0; x < size; x++) out[dst + x] = rowOut[2 * x] * gain;
      if (second) for (let x = 0; x < size; x++) out[dst + size + x] = rowOut[2 * x + 1] * gain;
    }
  }
  return out;
}

/** The adjoint of spectrumToPlanes: d loss / d spectrum from d loss / d planes, into `out` when given. */
export function planesToSpectrumGradient(basis: FourierBasis, gradient: Float32Array, n: number, out: Float32Array = new Float32Array(n * basis.perImage)): Float32Array {
  const { size, grid, half, work } = basis;
  const { fft, bitrev, scaleRoot, plane: rows, rowIn, rowOut } = work;
  const width = half * 2;
  const gain = 1 / (Math.sqrt(grid) * LUCID_IMAGE_DIVISOR);
  for (let p = 0; p < n * 3; p++) {
    // Rows past the picture are the crop's zero padding; the others are all written below.
    for (let y = size; y < grid; y++) rows.fill(0, bitrev[y] * width, (bitrev[y] + 1) * width);
    // 2'. Transpose of the inverse real FFT: a forward FFT of the zero-padded row, doubled for the
    //     bins that stand for a conjugate pair too; DC and Nyquist imaginary parts get nothing.
    //     Two rows per complex FFT: Z = fft(g + ih) gives G[k] = (Z[k] + conj Z[-k]) / 2 and
    //     H[k] = (Z[k] - conj Z[-k]) / 2i. Rows are stored bit-reversed, for step 1'.
    rowIn.fill(0);
    for (let y = 0; y < size; y += 2) {
      const second = y + 1 < size;
      const src = p * size * size + y * size;
      for (let x = 0; x < size; x++) rowIn[2 * x] = gradient[src + x];
      for (let x = 0; x < size; x++) rowIn[2 * x + 1] = second ? gradient[src + size + x] : 0;
      fft.transform(rowOut, rowIn);
      const a = bitrev[y] * width;
      const b = second ? bitrev[y + 1] * width : -1;
      for (let kx = 0; kx < half; kx++) {
        const m = (grid - kx) % grid;
        const zr = rowOut[2 * kx];
        const zi = rowOut[2 * kx + 1];
        const wr = rowOut[2 * m];
        const wi = -rowOut[2 * m + 1];
        const edge = kx === 0 || kx === half - 1;
        const factor = gain * (edge ? 1 : 2);
        rows[a + 2 * kx] = ((zr + wr) / 2) * factor;
        rows[a + 2 * kx + 1] = edge ? 0 : ((zi + wi) / 2) * factor;
        if (b >= 0) {
          rows[b + 2 * kx] = ((zi - wi) / 2) * factor;
          rows[b + 2 * kx + 1] = edge ? 0 : (-(zr - wr) / 2) * factor;
        }
      }
    }
    // 1'. Transpose of the orthonormal inverse FFT along ky: the orthonormal forward FFT; then the scale.
    transformColumns(work, rows, grid, half, -1);
    const base = p * grid * width;
    for (let ky = 0; ky < grid; ky++) {
      const src = ky * width;
      const dst = base + ky * width;
      const scaleRow = ky * half;
      for (let kx = 0; kx < half; kx++) {
        const s = scaleRoot[scaleRow + kx];
        out[dst + 2 * kx] = rows[src + 2 * kx] * s;
        out[dst + 2 * kx + 1] = rows[src + 2 * kx + 1] * s;
      }
    }
  }
  return out;
}
