/** The kernel tests' measure of "the same numbers within float rounding": largest |a - b| relative to the largest |b|. */
export function relativeError(a: Float32Array, b: Float32Array): number {
  let error = 0;
  let size = 0;
  for (let i = 0; i < b.length; i++) {
    error = Math.max(error, Math.abs(a[i] - b[i]));
    size = Math.max(size, Math.abs(b[i]));
  }
  return error / size;
}
