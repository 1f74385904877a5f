/** The part of fft.js (radix-4 FFT, power-of-two sizes; no types of its own) that lucid/fourier.ts uses. */
declare module 'fft.js' {
  type Complex = { length: number; [index: number]: number };
  export default class FFT {
    constructor(size: number);
    readonly size: number;
    /** out = sum_n data[n] e^{-2 pi i k n / N}, interleaved re/im, unnormalised. */
    transform(out: Complex, data: Complex): void;
    /** out = (1/N) sum_k data[k] e^{+2 pi i k n / N}. */
    inverseTransform(out: Complex, data: Complex): void;
  }
}
