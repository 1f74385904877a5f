import { describe, expect, it } from 'vitest';
import { isDead, isDeadInLayer, isLowContrast, layerActivationScale, planeStd, risesInLayer } from '../../pipeline/visualize/quality.js';
import { judgeLayers } from '../../pipeline/atlas/dead-in-layer.js';
import type { VisualRecord } from '../../pipeline/atlas/records.js';

/** A CHW image of side n whose plane p is filled by fill(p, y, x). */
function image(n: number, fill: (p: number, y: number, x: number) => number): Float32Array {
  const data = new Float32Array(3 * n * n);
  for (let p = 0; p < 3; p++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) data[(p * n + y) * n + x] = fill(p, y, x);
  return data;
}

describe('quality flags', () => {
  it('calls a saturated single colour flat, although its values spread over [0, 1]', () => {
    const magenta = image(8, (p) => (p === 1 ? 0 : 1));
    expect(planeStd(magenta)).toBe(0);
    expect(isLowContrast(magenta)).toBe(true);
  });

  it('keeps a striped pattern', () => {
    const stripes = image(8, (_p, y) => (y % 2 ? 0.3 : 0.7));
    expect(planeStd(stripes)).toBeCloseTo(0.2, 6);
    expect(isLowContrast(stripes)).toBe(false);
  });

  it('calls a filter dead when its objective did not rise or no gradient reached the image', () => {
    expect(isDead(1, 1.001, true)).toBe(true);
    expect(isDead(1, 3, true)).toBe(false);
    expect(isDead(1, 3, false)).toBe(true);
  });

  it('takes the layer scale from the largest objective of the live and dead pictures, not the failed ones', () => {
    const pictures = [
      { status: 'ok', startActivation: 0.5, activation: 2 },
      { status: 'dead', startActivation: -3, activation: -3 },
      { status: 'failed', startActivation: 100, activation: 0 },
    ] as const;
    expect(layerActivationScale(pictures)).toBe(3);
    expect(layerActivationScale([])).toBe(0);
  });

  it('judges a rise against the layer: a layer at 1e-7 is alive, a constant filter in it is dead', () => {
    // The MobileNetV3 features.12/Add: objectives about 1e-7, far below the stage's 1e-4 floor.
    const tiny = [
      { status: 'dead', startActivation: 1e-7, activation: 3e-7 },
      { status: 'dead', startActivation: 2e-7, activation: 2.5e-7 },
      { status: 'dead', startActivation: 4e-7, activation: 4e-7 },
    ] as const;
    expect(tiny.every((p) => isDead(p.startActivation, p.activation, true))).toBe(true);
    const scale = layerActivationScale(tiny);
    expect(scale).toBe(4e-7);
    expect(tiny.map((p) => isDeadInLayer(p, scale))).toEqual([false, false, true]);
    // The same rise in a layer whose scale is 1: negligible there.
    expect(risesInLayer(tiny[0], 1)).toBe(false);
    // Float rounding of its own value is no rise: 1 % of the start decides.
    expect(risesInLayer({ status: 'dead', startActivation: 5, activation: 5 * (1 + 1e-7) }, 5)).toBe(false);
    // A picture the stage called live stays live.
    expect(isDeadInLayer({ status: 'ok', startActivation: 1, activation: 1 }, 1)).toBe(false);
  });

  it('clears the stage verdict of a rising picture, per layer and method, and keeps the rest as recorded', () => {
    const record = (filter: number, status: VisualRecord['status'], startActivation: number, activation: number): VisualRecord => ({
      filter, key: `viz-${filter}`, status, startActivation, activation, seconds: 1,
      flags: { dead: status === 'dead', diverged: false, lowContrast: false, clippedFraction: 0 },
    });
    const small = new Map([[0, record(0, 'dead', 1e-7, 5e-7)], [1, record(1, 'dead', 3e-7, 3e-7)]]);
    // The other method's pictures are at scale 10: the same 4e-7 rise is negligible there.
    const large = new Map([[0, record(0, 'dead', 1e-7, 5e-7)], [1, record(1, 'ok', 1, 10)]]);
    const judged = judgeLayers(new Map([['conv', [small, large]]])).get('conv')!;
    expect(judged[0].get(0)).toMatchObject({ status: 'ok', flags: { dead: false } });
    expect(judged[0].get(1)).toMatchObject({ status: 'dead', flags: { dead: true } });
    expect(judged[1].get(0)).toMatchObject({ status: 'dead', flags: { dead: true } });
    expect(judged[1].get(1)).toBe(large.get(1));
  });
});
