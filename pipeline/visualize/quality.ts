/**
 * Quality signals of a finished visualisation (names as in pipeline/schema/atlas.ts).
 * Thresholds are here, in one place, with why they are what they are.
 */

/**
 * The visualisation stage's first screen (batch.ts), on one picture alone: a live filter's objective
 * rises by many times its start; the stage calls a picture dead when no gradient ever reached the
 * image, or when its objective (the best of the ascent or the shown picture's) rose by no more than
 * 1 % of its start's magnitude plus an absolute floor of 1e-4. Records keep this verdict as written.
 * The floor suits layers whose activations are O(0.1..100); a layer whose activations are all tiny
 * (a MobileNetV3 residual sum at 1e-7) falls under it whole, so the atlas's verdict is the stage's
 * confirmed against the layer: see risesInLayer.
 */
export const DEAD_RELATIVE_RISE = 0.01;
export const DEAD_ABSOLUTE_RISE = 1e-4;

/**
 * A rise is negligible relative to its layer below this fraction of the layer's activation scale
 * (layerActivationScale). float32 sums of a feature map carry rounding of about 1e-7..1e-6 of their
 * magnitude, so 1e-5 of the layer's largest objective is above rounding and far below any real
 * response; a constant filter rises by exactly 0.
 */
export const DEAD_LAYER_FRACTION = 1e-5;

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

/** What the layer rule reads of a picture: the stage's verdict and the two objectives a record keeps. */
export interface PictureObjectives {
  status: 'ok' | 'dead' | 'failed';
  /** Objective on the start noise. */
  startActivation: number;
  /** Objective on the shown (clipped) picture. */
  activation: number;
}

/**
 * A layer's activation scale, for one method's pictures of that layer (one pass of one schedule):
 * the largest magnitude of any of their objectives, at the start noise or on the shown picture.
 * The largest, not the median, so that a layer whose filters are mostly dead keeps a scale. Failed
 * pictures have no objective and are left out; 0 when there is none.
 */
export function layerActivationScale(pictures: Iterable<PictureObjectives>): number {
  let scale = 0;
  for (const p of pictures) {
    if (p.status === 'failed') continue;
    const magnitude = Math.max(Math.abs(p.startActivation), Math.abs(p.activation));
    if (Number.isFinite(magnitude) && magnitude > scale) scale = magnitude;
  }
  return scale;
}

/**
 * Whether the shown picture raised its filter's objective by more than a negligible amount relative
 * to its layer: above its start by more than 1 % of the start's magnitude plus DEAD_LAYER_FRACTION of
 * the layer's scale. A constant filter (rise exactly 0, or float rounding of its own value) does not.
 */
export function risesInLayer(picture: PictureObjectives, layerScale: number): boolean {
  const rise = picture.activation - picture.startActivation;
  return rise > DEAD_RELATIVE_RISE * Math.abs(picture.startActivation) + DEAD_LAYER_FRACTION * layerScale;
}

/**
 * The atlas's verdict on a picture: dead when the stage called it dead (isDead) and it does not rise
 * relative to its layer (risesInLayer). Only the stage's floor can call a picture of a small-scale
 * layer dead; this clears exactly those, so a picture the stage found live stays live.
 */
export function isDeadInLayer(picture: PictureObjectives, layerScale: number): boolean {
  return picture.status === 'dead' && !risesInLayer(picture, layerScale);
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
