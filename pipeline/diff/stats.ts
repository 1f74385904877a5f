/**
 * Dataset-side statistics of a diff, from the atlases' `datasetMeans` (images x channels float32):
 * per-channel mean and std, the channel x channel correlation between A and B, and top-k overlap.
 */
import { topIndicesByMean } from '../dataset/topk.js';

/** An images x channels matrix, row-major (the layout of atlas `datasetMeans`). */
export interface MeansMatrix {
  data: Float32Array;
  rows: number;
  channels: number;
}

export interface ColumnStats {
  mean: Float64Array;
  /** Population std; exactly 0 for a constant (dead) channel. */
  std: Float64Array;
}

export function columnStats(m: MeansMatrix): ColumnStats {
  const mean = new Float64Array(m.channels);
  const std = new Float64Array(m.channels);
  for (let r = 0; r < m.rows; r++) for (let c = 0; c < m.channels; c++) mean[c] += m.data[r * m.channels + c];
  for (let c = 0; c < m.channels; c++) mean[c] /= Math.max(1, m.rows);
  for (let r = 0; r < m.rows; r++) {
    for (let c = 0; c < m.channels; c++) {
      const d = m.data[r * m.channels + c] - mean[c];
      std[c] += d * d;
    }
  }
  for (let c = 0; c < m.channels; c++) {
    std[c] = Math.sqrt(std[c] / Math.max(1, m.rows));
    // Float sums of a constant column leave ~1e-8 relative residue; that is still a constant channel.
    if (std[c] <= 1e-7 * Math.max(Math.abs(mean[c]), 1e-30)) std[c] = 0;
  }
  return { mean, std };
}

/** Keeps the given rows (in that order): aligns two atlases' matrices on their shared images. */
export function selectRows(m: MeansMatrix, rows: readonly number[]): MeansMatrix {
  const data = new Float32Array(rows.length * m.channels);
  rows.forEach((row, i) => data.set(m.data.subarray(row * m.channels, (row + 1) * m.channels), i * m.channels));
  return { data, rows: rows.length, channels: m.channels };
}

/**
 * Pearson correlation of every A channel with every B channel over the rows: channelsA x channelsB,
 * row-major. Two constant channels correlate 1 when their constants agree (a unit dead in both is
 * unchanged) and 0 otherwise; a constant channel against a varying one correlates 0.
 */
export function correlationMatrix(a: MeansMatrix, b: MeansMatrix, statsA = columnStats(a), statsB = columnStats(b)): Float64Array {
  if (a.rows !== b.rows) throw new RangeError(`correlationMatrix: ${a.rows} rows in A, ${b.rows} in B`);
  const n = a.rows;
  const standardise = (m: MeansMatrix, s: ColumnStats) => {
    // Column-major, scaled so that a dot product of two columns is their correlation.
    const out = new Float64Array(m.rows * m.channels);
    for (let c = 0; c < m.channels; c++) {
      if (s.std[c] === 0) continue;
      const scale = 1 / (s.std[c] * Math.sqrt(n));
      for (let r = 0; r < n; r++) out[c * n + r] = (m.data[r * m.channels + c] - s.mean[c]) * scale;
    }
    return out;
  };
  const za = standardise(a, statsA);
  const zb = standardise(b, statsB);
  const result = new Float64Array(a.channels * b.channels);
  for (let i = 0; i < a.channels; i++) {
    for (let j = 0; j < b.channels; j++) {
      let value: number;
      if (statsA.std[i] === 0 || statsB.std[j] === 0) {
        const bothConstant = statsA.std[i] === 0 && statsB.std[j] === 0;
        const scale = Math.max(Math.abs(statsA.mean[i]), Math.abs(statsB.mean[j]), 1e-6);
        value = bothConstant && Math.abs(statsA.mean[i] - statsB.mean[j]) <= 1e-4 * scale ? 1 : 0;
      } else {
        let dot = 0;
        for (let r = 0; r < n; r++) dot += za[i * n + r] * zb[j * n + r];
        value = Math.max(-1, Math.min(1, dot));
      }
      result[i * b.channels + j] = value;
    }
  }
  return result;
}

/** Top-k rows of every channel by value, best first (ties to the earlier row), as the dataset stage ranks them. */
export function topRows(m: MeansMatrix, k: number): Int32Array[] {
  return topIndicesByMean(m.data, m.rows, m.channels, k);
}

/** |A ∩ B| / k for two top-k lists. */
export function topOverlap(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const k = Math.max(a.length, b.length);
  if (k === 0) return 1;
  const set = new Set(Array.from(a));
  let shared = 0;
  for (const value of Array.from(b)) if (set.has(value)) shared++;
  return shared / k;
}
