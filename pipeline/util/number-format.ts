/**
 * Numbers for people, one formatter for the CLI and the site (site/src/lib/format.ts re-exports it):
 * three significant digits in plain notation for everyday magnitudes, scientific notation below 1e-3
 * and from 1e5, so an activation of 1.625e-6 never reads as 0.0000. An em dash for a missing value.
 */
export function num(value: number | undefined, digits = 3): string {
  if (value === undefined || Number.isNaN(value)) return '—';
  if (!Number.isFinite(value)) return value > 0 ? '∞' : '−∞';
  if (value === 0) return '0';
  const abs = Math.abs(value);
  if (abs >= 1e5 || abs < 1e-3) return value.toExponential(digits - 1);
  return Number(value.toPrecision(digits)).toString();
}
