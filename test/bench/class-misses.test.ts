/** The class check's misses: which pictures came out as another class, the winner, and the class's rank. */
import { describe, expect, it } from 'vitest';
import { classMisses, missesByRank } from '../../bench/class-misses.js';
import type { Classification } from '../../pipeline/classify/classify.js';

const labels = ['ox', 'water buffalo', 'tabby', 'tiger cat', 'prison'];
const scores = (...pairs: Array<[number, number]>): Classification['top'] => pairs.map(([index, prob]) => ({ index, label: labels[index], prob }));

describe('classMisses', () => {
  const results: Classification[] = [
    { image: 'ox.png', top: scores([1, 0.9], [0, 0.08], [2, 0.02]) },
    { image: 'water-buffalo.png', top: scores([1, 0.7], [0, 0.3]) },
    { image: 'tabby.png', top: scores([3, 0.6], [4, 0.3], [2, 0.1]) },
    { image: 'prison.png', top: scores([3, 0.99], [1, 0.01]) },
  ];
  const misses = classMisses(results, [0, 1, 2, 4], labels);

  it('lists only the pictures whose winner is another class, with the winner and the class rank', () => {
    expect(misses).toEqual([
      { filter: 0, label: 'ox', winner: 'water buffalo', winnerProb: 0.9, rank: 2, prob: 0.08 },
      { filter: 2, label: 'tabby', winner: 'tiger cat', winnerProb: 0.6, rank: 3, prob: 0.1 },
      { filter: 4, label: 'prison', winner: 'tiger cat', winnerProb: 0.99, rank: null, prob: 0 },
    ]);
  });

  it('counts the misses by rank, ascending, the unranked last', () => {
    expect(missesByRank(misses)).toBe('rank 2: 1, rank 3: 1, not ranked: 1');
    expect(missesByRank([...misses, { ...misses[1], filter: 9 }, misses[0]])).toBe('rank 2: 2, rank 3: 2, not ranked: 1');
    expect(missesByRank([])).toBe('');
  });
});
