/**
 * Unit matching between two versions of a layer: which B channel is A's channel i? An assignment
 * solver (Jonker-Volgenant, linear-sum-assignment) maximises the summed activation correlation; the
 * resulting permutation is then split into cycles, and a cycle is accepted only when every pair in
 * it is strongly correlated and it beats leaving those units in place. So a changed layer whose
 * units merely resemble each other is compared index to index, not reshuffled by noise.
 */
import { linearSumAssignment } from 'linear-sum-assignment';

export interface MatchOptions {
  /** Every pair of an accepted cycle must correlate at least this much. @default 0.9 */
  minCorrelation?: number;
  /** An accepted cycle's mean correlation must beat the identity's by this much. @default 0.05 */
  minGain?: number;
}

export const DEFAULT_MATCH = { minCorrelation: 0.9, minGain: 0.05 } as const;

export interface Matching {
  /** toB[i] = the B channel matched to A channel i. */
  toB: Int32Array;
  permuted: boolean;
  /** Pairs with toB[i] !== i. */
  matches: Array<{ a: number; b: number; correlation: number }>;
  matchedCorrelation: number;
  identityCorrelation: number;
}

/** Cycles of a permutation of 0..n-1, each listed from its smallest element; fixed points left out. */
export function cyclesOf(permutation: ArrayLike<number>): number[][] {
  const seen = new Uint8Array(permutation.length);
  const cycles: number[][] = [];
  for (let start = 0; start < permutation.length; start++) {
    if (seen[start] || permutation[start] === start) continue;
    const cycle: number[] = [];
    for (let i = start; !seen[i]; i = permutation[i]) {
      seen[i] = 1;
      cycle.push(i);
    }
    cycles.push(cycle);
  }
  return cycles;
}

/** Matches the channels of a square correlation matrix (A channels x B channels, row-major). */
export function matchUnits(correlation: Float64Array, channels: number, options: MatchOptions = {}): Matching {
  const { minCorrelation, minGain } = { ...DEFAULT_MATCH, ...options };
  if (correlation.length !== channels * channels) throw new RangeError(`matchUnits: expected ${channels}x${channels} correlations, received ${correlation.length}`);
  const at = (i: number, j: number) => correlation[i * channels + j];
  const toB = Int32Array.from({ length: channels }, (_, i) => i);
  if (channels > 1) {
    const rows = Array.from({ length: channels }, (_, i) => Array.from(correlation.subarray(i * channels, (i + 1) * channels)));
    const { rowAssignments } = linearSumAssignment(rows, { maximaze: true });
    const assigned = Array.from(rowAssignments, (j, i) => (j >= 0 ? j : i));
    for (const cycle of cyclesOf(assigned)) {
      const strong = cycle.every((i) => at(i, assigned[i]) >= minCorrelation);
      const gain = cycle.reduce((sum, i) => sum + at(i, assigned[i]) - at(i, i), 0) / cycle.length;
      if (strong && gain >= minGain) for (const i of cycle) toB[i] = assigned[i];
    }
  }
  let matched = 0;
  let identity = 0;
  const matches: Matching['matches'] = [];
  for (let i = 0; i < channels; i++) {
    matched += at(i, toB[i]);
    identity += at(i, i);
    if (toB[i] !== i) matches.push({ a: i, b: toB[i], correlation: at(i, toB[i]) });
  }
  return {
    toB,
    permuted: matches.length > 0,
    matches,
    matchedCorrelation: matched / Math.max(1, channels),
    identityCorrelation: identity / Math.max(1, channels),
  };
}
