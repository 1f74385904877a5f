// Lucid's Fourier parameterisation (pipeline/visualize/lucid/fourier.ts, the definition) on float32 lanes:
// `spectrumToPlanes` (half spectra -> n x 3 x size x size planes) and its transpose
// `planesToSpectrumGradient`. Both are the same linear maps as fourier.ts's functions of those names.
//
// Sizes: grid N (a power of two >= 8), half H = N/2 + 1 columns kx, M = N/2, W = H + 3 (H rounded up to
// a multiple of 4 lanes). Pointers are byte offsets of float32 arrays, none overlapping another:
// - spectrum: per image and plane, N rows ky x H interleaved (re, im): n x 3 x N x H x 2 floats.
// - planes: n x 3 x size x size floats.
// - tables: N x W + 3N floats (kernels.ts `fourierTablesLength`) filled by kernels.ts `writeFourierTables`:
//   the real scale per (ky, kx) with every constant factor folded in (scale / (4 N), zero for the padding
//   columns), then cos, sin and -sin of 2 pi k / N for k < M, then the bit reversals of 0..N-1 (over
//   log2 N bits) and of 0..M-1, as i32.
// - scratch: N x 2W + 8W + 8M floats (kernels.ts `fourierScratchLength`): one plane's columns, each row
//   ky split as W real parts then W imaginary parts (SIMD across kx); then, for four picture rows at a
//   time, their half spectra and their half-length complex FFT with the four rows in the four lanes.
//
// Why two layouts: the transform along ky runs over whole rows (four kx per vector, memory in order); the
// real FFT along kx runs on four rows at once (one row per lane) after a 4 x 4 transpose, as a complex FFT
// of half length (even samples real, odd samples imaginary) with the real FFT's pre/post-processing.
// Only the picture's rows are transformed along kx: the crop's rows are never computed, and in the
// adjoint they are zero.

@inline function tablesCos(tables: usize, grid: i32): usize {
  return tables + ((<usize>grid * <usize>(grid / 2 + 4)) << 2);
}

/** Transposes the 4 x 4 block of vectors a, b, c, d (its rows) and stores its columns at out0 .. out3. */
@inline function storeTransposed(a: v128, b: v128, c: v128, d: v128, out0: usize, out1: usize, out2: usize, out3: usize): void {
  const t0 = f32x4.shuffle(a, b, 0, 4, 1, 5);
  const t1 = f32x4.shuffle(a, b, 2, 6, 3, 7);
  const t2 = f32x4.shuffle(c, d, 0, 4, 1, 5);
  const t3 = f32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(out0, f32x4.shuffle(t0, t2, 0, 1, 4, 5));
  v128.store(out1, f32x4.shuffle(t0, t2, 2, 3, 6, 7));
  v128.store(out2, f32x4.shuffle(t1, t3, 0, 1, 4, 5));
  v128.store(out3, f32x4.shuffle(t1, t3, 2, 3, 6, 7));
}

/**
 * In place, the unnormalised DFT of `count` elements (a power of two <= grid): sum_r x[r] exp(sign 2 pi
 * i r k / count), on `vectors` bytes of real parts per element at data + stride e (and imaginary parts
 * `imaginary` bytes after them), i.e. on many sequences at once, one per float lane. Decimation in time:
 * elements come in bit-reversed order and leave in natural order. Radix 4 (two radix-2 stages per pass
 * over the memory), a radix-2 pass first when log2 count is odd; twiddles from the grid's tables, the
 * sines with the transform's sign (sinT or its negation), so that no twiddle is computed in the loops:
 * V8 keeps few of them in registers and recomputes the rest in the innermost loop.
 */
function transform(data: usize, count: i32, stride: usize, vectors: usize, imaginary: usize, grid: i32, cosT: usize, sinSigned: usize, sign: i32): void {
  let len = 1;
  if (ctz(count) & 1) {
    for (let start = 0; start < count; start += 2) {
      const a = data + <usize>start * stride;
      const b = a + stride;
      for (let c: usize = 0; c < vectors; c += 16) {
        const ar = v128.load(a + c);
        const ai = v128.load(a + imaginary + c);
        const br = v128.load(b + c);
        const bi = v128.load(b + imaginary + c);
        v128.store(a + c, f32x4.add(ar, br));
        v128.store(a + imaginary + c, f32x4.add(ai, bi));
        v128.store(b + c, f32x4.sub(ar, br));
        v128.store(b + imaginary + c, f32x4.sub(ai, bi));
      }
    }
    len = 2;
  }
  // Stages of lengths 2 len (twiddle w1 = W_{2 len}^j for the pairs j, j + len) and 4 len (w2 = W_{4 len}^j
  // for the pairs j, j + 2 len; W_{4 len}^{j + len} = sign i w2 for j + len, j + 3 len), fused. With
  // v = w2 u3, the outputs u1 +- i v go to elements j + len and j + 3 len for sign +1, swapped for -1.
  for (; len < count; len <<= 2) {
    const gap = <usize>len * stride;
    const block = gap << 2;
    const end = data + <usize>count * stride;
    const plus: usize = sign > 0 ? gap : 3 * gap; // where u1 + i v goes
    const minus: usize = sign > 0 ? 3 * gap : gap; // where u1 - i v goes
    const step1 = grid / (2 * len);
    const step2 = grid / (4 * len);
    // j = 0: w1 = w2 = 1 (the whole first pass, a quarter of the second, ...): no products.
    for (let p0 = data; p0 < end; p0 += block) {
      const p1 = p0 + gap;
      const p2 = p1 + gap;
      const p3 = p2 + gap;
      for (let c: usize = 0; c < vectors; c += 16) {
        const x0r = v128.load(p0 + c);
        const x0i = v128.load(p0 + imaginary + c);
        const x1r = v128.load(p1 + c);
        const x1i = v128.load(p1 + imaginary + c);
        const x2r = v128.load(p2 + c);
        const x2i = v128.load(p2 + imaginary + c);
        const x3r = v128.load(p3 + c);
        const x3i = v128.load(p3 + imaginary + c);
        const u0r = f32x4.add(x0r, x1r);
        const u0i = f32x4.add(x0i, x1i);
        const u2r = f32x4.add(x2r, x3r);
        const u2i = f32x4.add(x2i, x3i);
        v128.store(p0 + c, f32x4.add(u0r, u2r));
        v128.store(p0 + imaginary + c, f32x4.add(u0i, u2i));
        v128.store(p2 + c, f32x4.sub(u0r, u2r));
        v128.store(p2 + imaginary + c, f32x4.sub(u0i, u2i));
        const u1r = f32x4.sub(x0r, x1r);
        const u1i = f32x4.sub(x0i, x1i);
        const vr = f32x4.sub(x2r, x3r);
        const vi = f32x4.sub(x2i, x3i);
        v128.store(p0 + plus + c, f32x4.sub(u1r, vi));
        v128.store(p0 + plus + imaginary + c, f32x4.add(u1i, vr));
        v128.store(p0 + minus + c, f32x4.add(u1r, vi));
        v128.store(p0 + minus + imaginary + c, f32x4.sub(u1i, vr));
      }
    }
    for (let j = 1; j < len; j++) {
      const w1r = f32x4.splat(load<f32>(cosT + (<usize>(j * step1) << 2)));
      const w1i = f32x4.splat(load<f32>(sinSigned + (<usize>(j * step1) << 2)));
      const w2r = f32x4.splat(load<f32>(cosT + (<usize>(j * step2) << 2)));
      const w2i = f32x4.splat(load<f32>(sinSigned + (<usize>(j * step2) << 2)));
      for (let p0 = data + <usize>j * stride; p0 < end; p0 += block) {
        const p1 = p0 + gap;
        const p2 = p1 + gap;
        const p3 = p2 + gap;
        for (let c: usize = 0; c < vectors; c += 16) {
          const x1r = v128.load(p1 + c);
          const x1i = v128.load(p1 + imaginary + c);
          const t1r = f32x4.sub(f32x4.mul(w1r, x1r), f32x4.mul(w1i, x1i));
          const t1i = f32x4.add(f32x4.mul(w1r, x1i), f32x4.mul(w1i, x1r));
          const x3r = v128.load(p3 + c);
          const x3i = v128.load(p3 + imaginary + c);
          const t3r = f32x4.sub(f32x4.mul(w1r, x3r), f32x4.mul(w1i, x3i));
          const t3i = f32x4.add(f32x4.mul(w1r, x3i), f32x4.mul(w1i, x3r));
          const x0r = v128.load(p0 + c);
          const x0i = v128.load(p0 + imaginary + c);
          const x2r = v128.load(p2 + c);
          const x2i = v128.load(p2 + imaginary + c);
          const u0r = f32x4.add(x0r, t1r);
          const u0i = f32x4.add(x0i, t1i);
          const u2r = f32x4.add(x2r, t3r);
          const u2i = f32x4.add(x2i, t3i);
          const t2r = f32x4.sub(f32x4.mul(w2r, u2r), f32x4.mul(w2i, u2i));
          const t2i = f32x4.add(f32x4.mul(w2r, u2i), f32x4.mul(w2i, u2r));
          v128.store(p0 + c, f32x4.add(u0r, t2r));
          v128.store(p0 + imaginary + c, f32x4.add(u0i, t2i));
          v128.store(p2 + c, f32x4.sub(u0r, t2r));
          v128.store(p2 + imaginary + c, f32x4.sub(u0i, t2i));
          const u1r = f32x4.sub(x0r, t1r);
          const u1i = f32x4.sub(x0i, t1i);
          const u3r = f32x4.sub(x2r, t3r);
          const u3i = f32x4.sub(x2i, t3i);
          const vr = f32x4.sub(f32x4.mul(w2r, u3r), f32x4.mul(w2i, u3i));
          const vi = f32x4.add(f32x4.mul(w2r, u3i), f32x4.mul(w2i, u3r));
          v128.store(p0 + plus + c, f32x4.sub(u1r, vi));
          v128.store(p0 + plus + imaginary + c, f32x4.add(u1i, vr));
          v128.store(p0 + minus + c, f32x4.add(u1r, vi));
          v128.store(p0 + minus + imaginary + c, f32x4.sub(u1i, vr));
        }
      }
    }
  }
}

/** The DFT along ky of one plane's columns (grid rows of `width` split complex values), every column at once. */
@inline function transformColumns(data: usize, grid: i32, width: i32, cosT: usize, sinSigned: usize, sign: i32): void {
  transform(data, grid, <usize>width << 3, <usize>width << 2, <usize>width << 2, grid, cosT, sinSigned, sign);
}

/** The DFT of length m of four sequences, one per lane: element k's real parts at t + 32 k, imaginary at + 16. */
@inline function transformLanes(t: usize, m: i32, cosT: usize, sinSigned: usize, sign: i32): void {
  transform(t, m, 32, 16, 16, m << 1, cosT, sinSigned, sign);
}

/**
 * Planes (n x 3 x size x size) from half spectra (n x 3 x grid x (grid/2 + 1) x 2): fourier.ts
 * spectrumToPlanes. Scratch: grid x 2W + 8W + 8M floats (see the top of this file).
 */
export function spectrumToPlanes(tables: usize, spectrum: usize, planes: usize, n: i32, size: i32, grid: i32, scratch: usize): void {
  const half = grid / 2 + 1;
  const m = grid / 2;
  const width = half + 3;
  const stride = <usize>width << 3;
  const imaginary = <usize>width << 2;
  const cosT = tablesCos(tables, grid);
  const sinT = cosT + (<usize>m << 2);
  const negSinT = sinT + (<usize>m << 2);
  const bitrev = negSinT + (<usize>m << 2);
  const bitrevHalf = bitrev + (<usize>grid << 2);
  const columns = scratch;
  const rowsX = columns + <usize>grid * stride;
  const lanes = rowsX + (<usize>width << 5);
  const blocks = m >> 2; // full blocks of four kx; the last block holds the Nyquist column alone
  const rowBytes = <usize>half << 3;
  const planeBytes = <usize>size * <usize>size << 2;
  const zero = f32x4.splat(0);
  for (let p = 0; p < n * 3; p++) {
    // 1. The scaled spectrum, rows in bit-reversed order, split into real and imaginary parts.
    const source = spectrum + <usize>p * <usize>grid * rowBytes;
    for (let ky = 0; ky < grid; ky++) {
      const src = source + <usize>ky * rowBytes;
      const dst = columns + <usize>load<i32>(bitrev + (<usize>ky << 2)) * stride;
      const scaleRow = tables + <usize>ky * imaginary;
      for (let j = 0; j < blocks; j++) {
        const at = <usize>j << 4;
        const v0 = v128.load(src + (at << 1));
        const v1 = v128.load(src + (at << 1) + 16);
        const s = v128.load(scaleRow + at);
        v128.store(dst + at, f32x4.mul(f32x4.shuffle(v0, v1, 0, 2, 4, 6), s));
        v128.store(dst + imaginary + at, f32x4.mul(f32x4.shuffle(v0, v1, 1, 3, 5, 7), s));
      }
      const at = <usize>blocks << 4;
      const s = load<f32>(scaleRow + at);
      v128.store(dst + at, f32x4.replace_lane(zero, 0, load<f32>(src + (at << 1)) * s));
      v128.store(dst + imaginary + at, f32x4.replace_lane(zero, 0, load<f32>(src + (at << 1) + 4) * s));
    }
    // 2. Along ky, every column at once.
    transformColumns(columns, grid, width, cosT, sinT, 1);
    // 3. Along kx, four picture rows at a time: numpy's irfft (imaginary parts of the DC and Nyquist
    //    columns dropped) as a complex FFT of length M whose output holds the even samples in its real
    //    parts and the odd ones in its imaginary parts.
    const target = planes + <usize>p * planeBytes;
    for (let y0 = 0; y0 < size; y0 += 4) {
      const r = columns + <usize>y0 * stride;
      for (let j = 0; j <= blocks; j++) {
        const at = <usize>j << 4;
        const out = rowsX + (<usize>j << 7);
        storeTransposed(v128.load(r + at), v128.load(r + stride + at), v128.load(r + 2 * stride + at), v128.load(r + 3 * stride + at), out, out + 32, out + 64, out + 96);
        const ai = r + imaginary + at;
        storeTransposed(v128.load(ai), v128.load(ai + stride), v128.load(ai + 2 * stride), v128.load(ai + 3 * stride), out + 16, out + 48, out + 80, out + 112);
      }
      // Z[k] = (X[k] + conj X[M - k]) + i (X[k] - conj X[M - k]) exp(2 pi i k / N), in bit-reversed order.
      {
        const x0 = v128.load(rowsX);
        const xm = v128.load(rowsX + (<usize>m << 5));
        const dst = lanes + (<usize>load<i32>(bitrevHalf) << 5);
        v128.store(dst, f32x4.add(x0, xm));
        v128.store(dst + 16, f32x4.sub(x0, xm));
      }
      for (let k = 1; k < m; k++) {
        const x = rowsX + (<usize>k << 5);
        const y = rowsX + (<usize>(m - k) << 5);
        const xr = v128.load(x);
        const xi = v128.load(x + 16);
        const yr = v128.load(y);
        const yi = v128.load(y + 16);
        const c = f32x4.splat(load<f32>(cosT + (<usize>k << 2)));
        const s = f32x4.splat(load<f32>(sinT + (<usize>k << 2)));
        const dr = f32x4.sub(xr, yr);
        const di = f32x4.add(xi, yi);
        const or = f32x4.sub(f32x4.mul(dr, c), f32x4.mul(di, s));
        const oi = f32x4.add(f32x4.mul(dr, s), f32x4.mul(di, c));
        const dst = lanes + (<usize>load<i32>(bitrevHalf + (<usize>k << 2)) << 5);
        v128.store(dst, f32x4.sub(f32x4.add(xr, yr), oi));
        v128.store(dst + 16, f32x4.add(f32x4.sub(xi, yi), or));
      }
      transformLanes(lanes, m, cosT, sinT, 1);
      // z[q] = x[2q] + i x[2q + 1]: four samples x of the four rows per pair of z, transposed back.
      const rows = min(4, size - y0);
      const full = size >> 2;
      for (let q = 0; q < full; q++) {
        const z = lanes + (<usize>q << 6);
        const out = target + ((<usize>y0 * <usize>size + (<usize>q << 2)) << 2);
        const rowGap = <usize>size << 2;
        if (rows == 4) {
          storeTransposed(v128.load(z), v128.load(z + 16), v128.load(z + 32), v128.load(z + 48), out, out + rowGap, out + 2 * rowGap, out + 3 * rowGap);
        } else {
          // The last rows of an odd picture: the rows past it are not written.
          const t = rowsX; // free again: used as a 64-byte staging area
          storeTransposed(v128.load(z), v128.load(z + 16), v128.load(z + 32), v128.load(z + 48), t, t + 16, t + 32, t + 48);
          for (let i = 0; i < rows; i++) v128.store(out + <usize>i * rowGap, v128.load(t + (<usize>i << 4)));
        }
      }
      for (let x = full << 2; x < size; x++) {
        // The odd columns: sample x is lane i of z[x / 2]'s real (even x) or imaginary (odd x) part.
        const from = lanes + (<usize>(x >> 1) << 5) + (<usize>(x & 1) << 4);
        for (let i = 0; i < rows; i++) store<f32>(target + ((<usize>(y0 + i) * <usize>size + <usize>x) << 2), load<f32>(from + (<usize>i << 2)));
      }
    }
  }
}

/**
 * The transpose of spectrumToPlanes: d loss / d spectrum (n x 3 x grid x (grid/2 + 1) x 2) from
 * d loss / d planes (n x 3 x size x size): fourier.ts planesToSpectrumGradient. Same tables and scratch.
 */
export function planesToSpectrumGradient(tables: usize, gradient: usize, spectrum: usize, n: i32, size: i32, grid: i32, scratch: usize): void {
  const half = grid / 2 + 1;
  const m = grid / 2;
  const width = half + 3;
  const stride = <usize>width << 3;
  const imaginary = <usize>width << 2;
  const cosT = tablesCos(tables, grid);
  const sinT = cosT + (<usize>m << 2);
  const negSinT = sinT + (<usize>m << 2);
  const bitrev = negSinT + (<usize>m << 2);
  const bitrevHalf = bitrev + (<usize>grid << 2);
  const columns = scratch;
  const rowsX = columns + <usize>grid * stride;
  const lanes = rowsX + (<usize>width << 5);
  const blocks = m >> 2;
  const rowBytes = <usize>half << 3;
  const planeBytes = <usize>size * <usize>size << 2;
  const rowGap = <usize>size << 2;
  const full = size >> 2;
  const zero = f32x4.splat(0);
  for (let p = 0; p < n * 3; p++) {
    // Rows past the picture (and past its last group of four) are the crop's zero padding.
    for (let y = (size + 3) & ~3; y < grid; y++) memory.fill(columns + <usize>load<i32>(bitrev + (<usize>y << 2)) * stride, 0, stride);
    const source = gradient + <usize>p * planeBytes;
    for (let y0 = 0; y0 < size; y0 += 4) {
      const rows = min(4, size - y0);
      // z[q] = g[2q] + i g[2q + 1] of four rows (zero past the picture), bit-reversed for the FFT.
      for (let q = 0; q < m >> 1; q++) {
        const a = lanes + (<usize>load<i32>(bitrevHalf + (<usize>(2 * q) << 2)) << 5);
        const b = lanes + (<usize>load<i32>(bitrevHalf + (<usize>(2 * q + 1) << 2)) << 5);
        if (q < full) {
          const src = source + ((<usize>y0 * <usize>size + (<usize>q << 2)) << 2);
          const g0 = v128.load(src);
          const g1 = rows > 1 ? v128.load(src + rowGap) : zero;
          const g2 = rows > 2 ? v128.load(src + 2 * rowGap) : zero;
          const g3 = rows > 3 ? v128.load(src + 3 * rowGap) : zero;
          storeTransposed(g0, g1, g2, g3, a, a + 16, b, b + 16);
        } else {
          // The last columns of an odd picture, through a zeroed staging area (rowsX, free here).
          const t = rowsX;
          for (let i = 0; i < 4; i++) v128.store(t + (<usize>i << 4), zero);
          for (let i = 0; i < rows; i++) {
            for (let x = q << 2; x < size; x++) store<f32>(t + (<usize>i << 4) + (<usize>(x & 3) << 2), load<f32>(source + ((<usize>(y0 + i) * <usize>size + <usize>x) << 2)));
          }
          storeTransposed(v128.load(t), v128.load(t + 16), v128.load(t + 32), v128.load(t + 48), a, a + 16, b, b + 16);
        }
      }
      transformLanes(lanes, m, cosT, negSinT, -1);
      // The transpose of irfft: G'[k] = (Z[k] + conj Z[M - k]) - i exp(-2 pi i k / N) (Z[k] - conj Z[M - k]),
      // which is the real FFT of the row doubled for the bins that stand for a conjugate pair; DC and
      // Nyquist (single bins, real parts only) are Re Z[0] +- Im Z[0].
      {
        const zr = v128.load(lanes);
        const zi = v128.load(lanes + 16);
        v128.store(rowsX, f32x4.add(zr, zi));
        v128.store(rowsX + 16, zero);
        const last = rowsX + (<usize>m << 5);
        v128.store(last, f32x4.sub(zr, zi));
        v128.store(last + 16, zero);
        for (let k = m + 1; k < width; k++) {
          v128.store(rowsX + (<usize>k << 5), zero);
          v128.store(rowsX + (<usize>k << 5) + 16, zero);
        }
      }
      for (let k = 1; k < m; k++) {
        const z = lanes + (<usize>k << 5);
        const y = lanes + (<usize>(m - k) << 5);
        const zr = v128.load(z);
        const zi = v128.load(z + 16);
        const yr = v128.load(y);
        const yi = v128.load(y + 16);
        const c = f32x4.splat(load<f32>(cosT + (<usize>k << 2)));
        const s = f32x4.splat(load<f32>(sinT + (<usize>k << 2)));
        const br = f32x4.sub(zr, yr);
        const bi = f32x4.add(zi, yi);
        const dst = rowsX + (<usize>k << 5);
        v128.store(dst, f32x4.add(f32x4.add(zr, yr), f32x4.sub(f32x4.mul(c, bi), f32x4.mul(s, br))));
        v128.store(dst + 16, f32x4.sub(f32x4.sub(zi, yi), f32x4.add(f32x4.mul(c, br), f32x4.mul(s, bi))));
      }
      // Back to one row per vector, into the rows' bit-reversed places for the ky transform.
      const r0 = columns + <usize>load<i32>(bitrev + (<usize>y0 << 2)) * stride;
      const r1 = columns + <usize>load<i32>(bitrev + (<usize>(y0 + 1) << 2)) * stride;
      const r2 = columns + <usize>load<i32>(bitrev + (<usize>(y0 + 2) << 2)) * stride;
      const r3 = columns + <usize>load<i32>(bitrev + (<usize>(y0 + 3) << 2)) * stride;
      for (let j = 0; j <= blocks; j++) {
        const at = <usize>j << 4;
        const x = rowsX + (<usize>j << 7);
        storeTransposed(v128.load(x), v128.load(x + 32), v128.load(x + 64), v128.load(x + 96), r0 + at, r1 + at, r2 + at, r3 + at);
        storeTransposed(v128.load(x + 16), v128.load(x + 48), v128.load(x + 80), v128.load(x + 112), r0 + imaginary + at, r1 + imaginary + at, r2 + imaginary + at, r3 + imaginary + at);
      }
    }
    // 1'. The transpose of the ky transform (the forward DFT), then the scale, interleaved again.
    transformColumns(columns, grid, width, cosT, negSinT, -1);
    const target = spectrum + <usize>p * <usize>grid * rowBytes;
    for (let ky = 0; ky < grid; ky++) {
      const src = columns + <usize>ky * stride;
      const dst = target + <usize>ky * rowBytes;
      const scaleRow = tables + <usize>ky * imaginary;
      for (let j = 0; j < blocks; j++) {
        const at = <usize>j << 4;
        const s = v128.load(scaleRow + at);
        const re = f32x4.mul(v128.load(src + at), s);
        const im = f32x4.mul(v128.load(src + imaginary + at), s);
        v128.store(dst + (at << 1), f32x4.shuffle(re, im, 0, 4, 1, 5));
        v128.store(dst + (at << 1) + 16, f32x4.shuffle(re, im, 2, 6, 3, 7));
      }
      const at = <usize>blocks << 4;
      const s = load<f32>(scaleRow + at);
      store<f32>(dst + (at << 1), load<f32>(src + at) * s);
      store<f32>(dst + (at << 1) + 4, load<f32>(src + imaginary + at) * s);
    }
  }
}
