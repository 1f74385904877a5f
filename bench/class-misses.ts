/**
 * The class check's misses (`npm run check:classes -- --misses`): for each class picture classified as
 * another class, the winner, the class's own rank and both probabilities, so that a top-1 below target
 * can be read as near misses (siblings at rank 2) or as pictures of something else.
 */
import type { Classification } from '../pipeline/classify/classify.js';

export interface ClassMiss {
  filter: number;
  label: string;
  winner: string;
  winnerProb: number;
  /** 1-based rank of the class among the classification's scores; null when it is not among them. */
  rank: number | null;
  /** The class's probability; 0 when it is not among the scores. */
  prob: number;
}

/** results[i] classifies the picture of class filters[i]. */
export function classMisses(results: readonly Classification[], filters: readonly number[], labels: readonly string[]): ClassMiss[] {
  const misses: ClassMiss[] = [];
  results.forEach((result, i) => {
    const filter = filters[i];
    const winner = result.top[0];
    if (winner.index === filter) return;
    const at = result.top.findIndex((score) => score.index === filter);
    misses.push({
      filter,
      label: labels[filter],
      winner: winner.label,
      winnerProb: winner.prob,
      rank: at < 0 ? null : at + 1,
      prob: at < 0 ? 0 : result.top[at].prob,
    });
  });
  return misses;
}

/** "rank 2: 44, rank 3: 11, ..., not ranked: 1", ranks ascending. */
export function missesByRank(misses: readonly ClassMiss[]): string {
  const counts = new Map<number | null, number>();
  for (const miss of misses) counts.set(miss.rank, (counts.get(miss.rank) ?? 0) + 1);
  const ranked = [...counts].filter(([rank]) => rank !== null).sort(([a], [b]) => a! - b!);
  const parts = ranked.map(([rank, count]) => `rank ${rank}: ${count}`);
  if (counts.has(null)) parts.push(`not ranked: ${counts.get(null)}`);
  return parts.join(', ');
}
