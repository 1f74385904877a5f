import { describe, expect, it } from 'vitest';
import { num } from '../../pipeline/util/number-format.js';

describe('num, the CLI and site number formatter', () => {
  it('prints small and large magnitudes in scientific notation, never as 0.0000', () => {
    // The probe mean: the CLI printed 0.0000 where the browser showed 1.625e-6.
    expect(num(1.625e-6, 4)).toBe('1.625e-6');
    expect(num(-2.153e-5)).toBe('-2.15e-5');
    expect(num(123456)).toBe('1.23e+5');
  });

  it('prints everyday magnitudes plainly at the given significant digits', () => {
    expect(num(12.3456, 4)).toBe('12.35');
    expect(num(0.00123)).toBe('0.00123');
    expect(num(0)).toBe('0');
    expect(num(undefined)).toBe('—');
    expect(num(Number.NaN)).toBe('—');
    expect(num(-Infinity)).toBe('−∞');
  });
});
