/**
 * Quality signals of a finished visualisation (names as in pipeline/schema/atlas.ts).
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
 * Spatial standard deviation of each colour plane (RGB, [0, 1]), averaged over the planes, below
 * which an image reads as flat. Per plane, so a saturated single colour (all magenta, say) counts
 * as flat too: measured on darknet-tiny leaky_re_lu_2, such a filter sits at 0.007, faint textures
 * at 0.045-0.07, real patterns at 0.1-0.3. 0.03 is about 8 grey levels.
 */
export const LOW_CONTRAST_STD = 0.03;

export function isDead(start: number, best: number, gradientSeen: boolean): boolean {
  if (!gradientSeen) return true;
  return !(best - start > DEAD_RELATIVE_RISE * Math.abs(start) + DEAD_ABSOLUTE_RISE);
}

/** Mean over the colour planes of each plane's spatial standard deviation; data is CHW. */
export function planeStd(data: Float32Array, planes = 3): number {
  const size = data.length / planes;
  if (!Number.isInteger(size) || size === 0) return 0;
  let total = 0;
  for (let p = 0; p < planes; p++) {
    let sum = 0;
    let squares = 0;
    for (let i = p * size; i < (p + 1) * size; i++) {
      sum += data[i];
      squares += data[i] * data[i];
    }
    const mean = sum / size;
    total += Math.sqrt(Math.max(0, squares / size - mean * mean));
  }
  return total / planes;
}

export function isLowContrast(data: Float32Array): boolean {
  return planeStd(data) < LOW_CONTRAST_STD;
}
