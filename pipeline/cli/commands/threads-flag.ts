import { MAX_THREADS } from '../../config/bounds.js';
import { describeValue, userError } from '../../errors.js';

/** `--threads N`: engine threads, the bounds of the config's `threads`. */
export function parseThreads(text: string): number {
  const value = Number(text);
  if (!/^\s*\d+\s*$/.test(text) || value < 1 || value > MAX_THREADS) {
    throw userError({ where: '--threads', expected: `a whole number of engine threads from 1 to ${MAX_THREADS}`, received: describeValue(text) });
  }
  return value;
}
