import { describe, expect, it } from 'vitest';
import { superstimulusRatio } from '../../pipeline/dataset/quality.js';

describe('superstimulusRatio', () => {
  it('divides the visualisation activation by the dataset max', () => {
    expect(superstimulusRatio(30, 12)).toBe(2.5);
    expect(superstimulusRatio(-3, 12)).toBe(-0.25);
  });

  it('is undefined when the dataset never excites the filter or a value is not finite', () => {
    expect(superstimulusRatio(5, 0)).toBeUndefined();
    expect(superstimulusRatio(5, -1)).toBeUndefined();
    expect(superstimulusRatio(Number.NaN, 2)).toBeUndefined();
    expect(superstimulusRatio(5, Number.POSITIVE_INFINITY)).toBeUndefined();
  });
});
