import { describe, expect, it } from 'vitest';
import { isDead, isLowContrast, planeStd } from '../../pipeline/visualize/quality.js';

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
});
