/**
 * The numerical parts of a diff on small made-up data: correlation with dead channels, top-k overlap,
 * unit matching (a hidden permutation is recovered; noise is not mistaken for one), score and status.
 */
import { describe, expect, it } from 'vitest';
import { cyclesOf, matchUnits } from '../../pipeline/diff/match.js';
import { bothDead, changeScore, classify, components, relativeResponse, SCORE_THRESHOLDS } from '../../pipeline/diff/score.js';
import { columnStats, correlationMatrix, selectRows, topOverlap, topRows, type MeansMatrix } from '../../pipeline/diff/stats.js';
import { createRandom } from '../../pipeline/util/random.js';

/** rows x channels of seeded uniform noise, with per-channel offsets so channels differ. */
function noise(rows: number, channels: number, seed: number): MeansMatrix {
  const random = createRandom(seed);
  const data = new Float32Array(rows * channels);
  for (let i = 0; i < data.length; i++) data[i] = random.next() + (i % channels);
  return { data, rows, channels };
}

function permuteColumns(m: MeansMatrix, order: number[]): MeansMatrix {
  const data = new Float32Array(m.data.length);
  for (let r = 0; r < m.rows; r++) for (let j = 0; j < m.channels; j++) data[r * m.channels + j] = m.data[r * m.channels + order[j]];
  return { ...m, data };
}

describe('dataset statistics', () => {
  it('correlates every A channel with every B channel, dead channels included', () => {
    const a = noise(50, 3, 1);
    // Channel 2 of both is dead (constant 0); channel 1 of B is A's channel 0 scaled and shifted.
    for (let r = 0; r < 50; r++) a.data[r * 3 + 2] = 0;
    const b: MeansMatrix = { rows: 50, channels: 3, data: new Float32Array(150) };
    for (let r = 0; r < 50; r++) {
      b.data[r * 3] = -a.data[r * 3];
      b.data[r * 3 + 1] = 2 * a.data[r * 3] + 5;
    }
    const c = correlationMatrix(a, b);
    expect(c[0 * 3 + 0]).toBeCloseTo(-1, 6);
    expect(c[0 * 3 + 1]).toBeCloseTo(1, 6);
    expect(c[2 * 3 + 2]).toBe(1); // dead in both: unchanged
    expect(c[0 * 3 + 2]).toBe(0); // alive vs dead
    expect(columnStats(a).std[2]).toBe(0);
    const shifted = { ...b, data: b.data.map((v, i) => (i % 3 === 2 ? 3 : v)) };
    expect(correlationMatrix(a, shifted)[2 * 3 + 2]).toBe(0); // dead at another constant
  });

  it('top-k by value, overlap as a fraction of k, rows selected in order', () => {
    const m: MeansMatrix = { rows: 5, channels: 1, data: Float32Array.from([3, 9, 1, 9, 4]) };
    expect(Array.from(topRows(m, 3)[0])).toEqual([1, 3, 4]);
    expect(topOverlap([1, 3, 4], [4, 1, 0])).toBeCloseTo(2 / 3);
    expect(topOverlap([], [])).toBe(1);
    expect(Array.from(selectRows(m, [4, 0]).data)).toEqual([4, 3]);
  });
});

describe('unit matching', () => {
  it('recovers a hidden permutation and reports only the units that moved', () => {
    const a = noise(40, 8, 2);
    const order = [0, 3, 1, 2, 5, 4, 6, 7]; // B's channel j is A's channel order[j]
    const b = permuteColumns(a, order);
    const m = matchUnits(correlationMatrix(a, b), 8);
    const expected = Array.from({ length: 8 }, (_, i) => order.indexOf(i));
    expect(Array.from(m.toB)).toEqual(expected);
    expect(m.permuted).toBe(true);
    expect(m.matches.map((x) => x.a)).toEqual([1, 2, 3, 4, 5]);
    expect(m.matchedCorrelation).toBeCloseTo(1, 6);
    expect(m.identityCorrelation).toBeLessThan(0.7);
  });

  it('keeps identity when units changed instead of moving (no strong cycle)', () => {
    const a = noise(40, 6, 3);
    const b = noise(40, 6, 4); // unrelated: every correlation is weak
    const m = matchUnits(correlationMatrix(a, b), 6);
    expect(Array.from(m.toB)).toEqual([0, 1, 2, 3, 4, 5]);
    expect(m.permuted).toBe(false);
    expect(m.matches).toEqual([]);
  });

  it('splits permutations into cycles', () => {
    expect(cyclesOf([1, 2, 0, 3, 5, 4])).toEqual([[0, 1, 2], [4, 5]]);
    expect(cyclesOf([0, 1])).toEqual([]);
  });
});

describe('change score and status', () => {
  const unit = { mean: 1, std: 0.5 };

  it('is 0 for identical signals and grows with each kind of change', () => {
    const same = { correlation: 1, topOverlap: 1, cross: { aOnA: 6, bOnA: 6, aOnB: 5, bOnB: 5, responseBtoA: 1, responseAtoB: 1 }, ssim: 1 };
    expect(changeScore(components(same, unit, unit))).toBe(0);
    const weaker = { ...same, cross: { ...same.cross, bOnA: 2, aOnB: 1.5 } };
    const less = { ...same, correlation: 0.5, topOverlap: 0.2 };
    expect(changeScore(components(weaker, unit, unit))).toBeGreaterThan(0.1);
    expect(changeScore(components(less, unit, unit))).toBeGreaterThan(0.1);
    // Pixels alone never reach drifted: visualisations are chaotic in float rounding.
    expect(changeScore(components({ ...same, ssim: 0 }, unit, unit))).toBeLessThan(SCORE_THRESHOLDS.drifted);
  });

  it('drops a missing signal and renormalises the rest', () => {
    const c = components({ correlation: 0, topOverlap: 0 }, unit, unit);
    expect(c.cross).toBeUndefined();
    expect(changeScore(c)).toBe(1);
  });

  it('reports the relative response above the dataset mean', () => {
    expect(relativeResponse(5, 3, unit, unit)).toBe(0.5);
    expect(relativeResponse(1, 3, unit, unit)).toBeNull();
  });

  it('classifies by thresholds, and by deadness first', () => {
    const live = { dead: false, status: 'ok' } as const;
    const constant = { dead: true, status: 'dead' } as const;
    expect(classify(0, live, live)).toBe('unchanged');
    expect(classify(SCORE_THRESHOLDS.drifted, live, live)).toBe('drifted');
    expect(classify(SCORE_THRESHOLDS.changed, live, live)).toBe('changed');
    expect(classify(0.9, live, constant)).toBe('died');
    expect(classify(0.9, constant, live)).toBe('revived');
    expect(classify(0.9, constant, constant)).toBe('dead');
  });

  it('calls two flat pictures "both dead", not changed, even when the units still vary over the dataset', () => {
    // The case: a dead picture on each side, active on every image (activeFraction 1), scored 0.45 before.
    const flat = { dead: false, status: 'dead' } as const;
    const live = { dead: false, status: 'ok' } as const;
    expect(bothDead(flat, flat)).toBe(true);
    expect(classify(0.45, flat, flat)).toBe('dead');
    expect(bothDead(flat, { dead: true, status: 'ok' })).toBe(true);
    // One flat picture beside a live one is still compared.
    expect(bothDead(flat, live)).toBe(false);
    expect(classify(0.45, flat, live)).toBe('changed');
  });
});
