/**
 * The change score of one unit: four signals, each turned into a distance in [0, 1] (0 = same),
 * combined as a weighted mean over the signals that exist, then a status. Pure functions, so the
 * numbers in diff.json's `scoring` block are exactly what runs.
 *
 * Distances:
 * - correlation: 1 - r, clipped to [0, 1] (r <= 0 counts as fully changed);
 * - topOverlap: 1 - |top-k A ∩ top-k B| / k;
 * - cross: for each visualisation, the owner's response and the other model's response in units of
 *   their own dataset std above their own dataset mean (z); the distance is |z_other - z_owner| /
 *   max(|z_owner|, 1), clipped to [0, 1], averaged over A's and B's visualisations;
 * - ssim: 1 - SSIM, clipped to [0, 1].
 * Why SSIM gets the smallest weight (measured on the variant demo, config/variants, seed 3):
 * - a unit that only moved (a permuted conv, same weights) now draws the identical picture: the start
 *   noise depends on the seed alone and each image of a batch is computed alone (docs/design.md, "Start
 *   noise"); 29 of 29 moved units of leaky_re_lu_2 reach SSIM 1.000 (it was 0-0.1 when the noise
 *   followed the filter index);
 * - but the same function computed with another summation order, or with weights that moved by int8
 *   rounding, draws a visibly different picture, because the ascent is chaotic in float rounding:
 *   after the permuted conv, SSIM 0.946-1.000 (leaky_re_lu_3, same function); int8 quantised, whose
 *   units still correlate at r >= 0.993 over the dataset, SSIM 0.40-0.99.
 * So pixels can confirm that nothing changed but cannot show that something did: SSIM stays at 0.05,
 * too little to push a unit past `drifted` by itself; the functional signals decide.
 */
import type { Components, FilterStatus, Signals } from './schema.js';

export const SCORE_WEIGHTS = { correlation: 0.35, topOverlap: 0.15, cross: 0.45, ssim: 0.05 } as const;
/** score < drifted: unchanged; < changed: drifted; else changed. */
export const SCORE_THRESHOLDS = { drifted: 0.1, changed: 0.3 } as const;

export const SCORING_DESCRIPTION =
  'score = weighted mean of four distances in [0, 1] (weights: correlation 0.35, top-k overlap 0.15, cross-activation 0.45, SSIM 0.05; ' +
  'a missing signal drops out and the rest are renormalised). correlation: 1 - r of the units\' per-image mean activations over the dataset, clipped to [0, 1]. ' +
  'top-k: 1 - shared top-k images / k. cross-activation: each model on each visualisation, response as z = (activation - dataset mean) / dataset std of that model\'s unit; ' +
  'distance |z_other - z_owner| / max(|z_owner|, 1), clipped, averaged over both visualisations. SSIM: 1 - SSIM of the two PNGs. ' +
  'Status: dead ("both dead", score 0) when the unit is dead in both versions (constant over the dataset, or its visualisation is dead, relative to its layer, in its atlas); ' +
  'died / revived when it is dead in exactly one version (constant over the dataset, or a dead visualisation that never fired on the dataset); ' +
  'otherwise unchanged below 0.1, drifted below 0.3, changed from 0.3.';

export interface UnitStats {
  /** Mean and std of the unit's per-image mean activation over the dataset. */
  mean: number;
  std: number;
}

const clip01 = (x: number) => (Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 1);

/** Response in dataset-std units above the dataset mean (a constant unit's std is floored, never 0). */
function zScore(activation: number, stats: UnitStats): number {
  return (activation - stats.mean) / Math.max(stats.std, 1e-6 * Math.max(1, Math.abs(stats.mean)));
}

function crossDistance(owner: number, other: number, ownerStats: UnitStats, otherStats: UnitStats): number {
  const zOwner = zScore(owner, ownerStats);
  const zOther = zScore(other, otherStats);
  return clip01(Math.abs(zOther - zOwner) / Math.max(Math.abs(zOwner), 1));
}

/** (activation of the other model - its mean) / (activation of the owner - its mean), or null when the owner did not rise above its mean. */
export function relativeResponse(owner: number, other: number, ownerStats: UnitStats, otherStats: UnitStats): number | null {
  const denominator = owner - ownerStats.mean;
  if (!(Math.abs(denominator) > 1e-12)) return null;
  return (other - otherStats.mean) / denominator;
}

export function components(signals: Signals, a: UnitStats, b: UnitStats): Components {
  const out: Components = {
    correlation: clip01(1 - signals.correlation),
    topOverlap: clip01(1 - signals.topOverlap),
  };
  if (signals.cross) {
    const { aOnA, bOnA, aOnB, bOnB } = signals.cross;
    out.cross = (crossDistance(aOnA, bOnA, a, b) + crossDistance(bOnB, aOnB, b, a)) / 2;
  }
  if (signals.ssim !== undefined) out.ssim = clip01(1 - signals.ssim);
  return out;
}

export function changeScore(c: Components): number {
  let total = 0;
  let weights = 0;
  for (const [name, weight] of Object.entries(SCORE_WEIGHTS) as Array<[keyof Components, number]>) {
    const value = c[name];
    if (value === undefined) continue;
    total += weight * value;
    weights += weight;
  }
  return weights > 0 ? total / weights : 0;
}

/** What classify reads of a side (schema.ts DiffSide): the diff's own dead, and the atlas's picture status. */
export interface SideLife {
  /** Constant over the dataset, or a dead picture that never fired on it (run.ts). */
  dead: boolean;
  /** The picture's status in its atlas; `dead` there is relative to the layer (visualize/quality.ts). */
  status: 'ok' | 'dead' | 'failed';
}

/** Dead in one version: by the diff's rule, or its picture is dead in its atlas (a flat picture). */
export function deadInVersion(side: SideLife): boolean {
  return side.dead || side.status === 'dead';
}

/** Dead in both versions: there is nothing to compare, so the unit scores 0 and reads "both dead". */
export function bothDead(a: SideLife, b: SideLife): boolean {
  return deadInVersion(a) && deadInVersion(b);
}

export function classify(score: number, a: SideLife, b: SideLife): FilterStatus {
  if (bothDead(a, b)) return 'dead';
  if (a.dead && !b.dead) return 'revived';
  if (!a.dead && b.dead) return 'died';
  if (score < SCORE_THRESHOLDS.drifted) return 'unchanged';
  return score < SCORE_THRESHOLDS.changed ? 'drifted' : 'changed';
}
