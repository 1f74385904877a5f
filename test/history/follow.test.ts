/**
 * How history.ts chains the steps' unit matching into tracks, on hand-made diffs: a unit moved by a
 * permutation stays one track, the first changed / died / revived versions are the steps' statuses,
 * and a unit first reached at a later version (its selection grew) starts its own track there.
 */
import { describe, expect, it } from 'vitest';
import { followUnits } from '../../pipeline/diff/history.js';
import type { AtlasDiff, FilterDiff, FilterStatus } from '../../pipeline/diff/schema.js';

const side = (filter: number, dead = false) => ({ filter, status: 'ok' as const, dead, thumb: `v/${filter}.webp`, activation: 1, datasetMean: 0, datasetStd: 1, top: [] });

/** A diff of one layer: [A unit, B unit, status, score] per compared unit. */
function step(units: Array<[number, number, FilterStatus, number]>): AtlasDiff {
  const filters = units.map(([a, b, status, score], i): FilterDiff => ({
    layer: 'conv',
    rank: i + 1,
    score,
    status,
    a: side(a, status === 'revived'),
    b: side(b, status === 'died'),
    signals: { correlation: 1 - score, topOverlap: 1 },
    components: { correlation: score, topOverlap: 0 },
  }));
  return { layers: [{ name: 'conv' }], filters } as unknown as AtlasDiff;
}

describe('followUnits', () => {
  it('chains permutations, and records the first version of each event', () => {
    const tracks = followUnits(
      [
        step([[0, 1, 'unchanged', 0.01], [1, 0, 'unchanged', 0.02]]),
        step([[1, 1, 'changed', 0.5], [0, 0, 'unchanged', 0.0]]),
        step([[1, 1, 'died', 0.6], [0, 0, 'drifted', 0.2]]),
      ],
      4,
    );
    expect(tracks.map((t) => t.units)).toEqual([[0, 1, 1, 1], [1, 0, 0, 0]]);
    expect(tracks[0]).toMatchObject({ born: 0, changed: 2, died: 3, revived: null, maxScore: 0.6 });
    expect(tracks[1]).toMatchObject({ born: 0, changed: null, died: null });
    expect(tracks[0].steps.map((s) => s?.status)).toEqual(['unchanged', 'changed', 'died']);
    expect(tracks[0].points.map((p) => p?.filter)).toEqual([0, 1, 1, 1]);
  });

  it('a unit first compared at a later step starts its own track there; one not compared ends', () => {
    const tracks = followUnits([step([[0, 0, 'unchanged', 0]]), step([[0, 0, 'unchanged', 0], [5, 5, 'revived', 0.4]])], 3);
    expect(tracks.map((t) => t.units)).toEqual([[0, 0, 0], [null, 5, 5]]);
    expect(tracks[1]).toMatchObject({ born: 1, revived: 2, changed: 2 });
    expect(tracks[1].steps[0]).toBeNull();
    const ended = followUnits([step([[0, 0, 'unchanged', 0], [1, 1, 'unchanged', 0]]), step([[0, 0, 'unchanged', 0]])], 3);
    expect(ended[1].units).toEqual([1, 1, null]);
  });
});
