/**
 * Quality signals of a finished visualisation (names as in pipeline/atlas/schema.ts).
 * Thresholds are here, in one place, with why they are what they are.
 */

/**
 * A live filter's objective rises by many times its start; "dead" means it did not rise
 * meaningfully: by less than 1 % of its start's magnitude plus a small absolute floor
 * (activations of real CNNs are O(0.1..100), so 1e-4 is far below any real rise).
 */
export const DEAD_RELATIVE_RISE = 0.01;
export const DEAD_ABSOLUTE_RISE = 1e-4;

/**
 * Standard deviation of all pixel values (RGB, [0, 1]) below which an image reads as flat:
 * 0.02 is about 5 grey levels; the blurred start noise alone sits near it, a real pattern far above.
 */
export const LOW_CONTRAST_STD = 0.02;

export function isDead(start: number, best: number, gradientSeen: boolean): boolean {
  if (!gradientSeen) return true;
  return !(best - start > DEAD_RELATIVE_RISE * Math.abs(start) + DEAD_ABSOLUTE_RISE);
}

export function pixelStd(data: Float32Array): number {
  if (data.length === 0) return 0;
  let sum = 0;
  let squares = 0;
  for (let i = 0; i < data.length; i++) {
    sum += data[i];
    squares += data[i] * data[i];
  }
  const mean = sum / data.length;
  return Math.sqrt(Math.max(0, squares / data.length - mean * mean));
}

export function isLowContrast(data: Float32Array): boolean {
  return pixelStd(data) < LOW_CONTRAST_STD;
}
