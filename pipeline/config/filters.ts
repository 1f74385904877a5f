import { userError } from '../errors.js';
import { createRandom, deriveSeed } from '../util/random.js';

/** A filter selection as written in config or on the command line: "all", [0, 5, 9] or "0-15,20". */
export type FilterSelection = 'all' | number[] | string;

/** Resolves a selection against a layer's channel count; the error says which field and what range exists. */
export function resolveFilters(selection: FilterSelection, channels: number, where: string): number[] {
  if (selection === 'all') return Array.from({ length: channels }, (_, i) => i);
  const chosen = new Set<number>();
  const add = (value: number): void => {
    if (!Number.isInteger(value) || value < 0 || value >= channels) {
      throw userError({
        where,
        expected: `filter indices from 0 to ${channels - 1} (the layer has ${channels} channels)`,
        received: String(value),
      });
    }
    chosen.add(value);
  };
  if (Array.isArray(selection)) {
    selection.forEach(add);
  } else {
    for (const part of selection.split(',').map((s) => s.trim()).filter(Boolean)) {
      const range = /^(\d+)\s*-\s*(\d+)$/.exec(part);
      if (range) {
        const [from, to] = [Number(range[1]), Number(range[2])];
        if (from > to) throw userError({ where, expected: 'ranges written low-high, e.g. "0-15"', received: JSON.stringify(part) });
        for (let i = from; i <= to; i++) add(i);
      } else if (/^\d+$/.test(part)) {
        add(Number(part));
      } else {
        throw userError({ where, expected: '"all", a list of indices, or ranges like "0-15,20"', received: JSON.stringify(part) });
      }
    }
  }
  if (chosen.size === 0) throw userError({ where, expected: 'at least one filter', received: 'an empty selection' });
  return [...chosen].sort((a, b) => a - b);
}

/**
 * `count` of `filters` chosen by `seed` (a partial Fisher-Yates shuffle of our seeded generator), in
 * ascending order: the same seed always picks the same subset, e.g. the class check's affordable sample
 * of the 1000 class filters.
 */
export function sampleFilters(filters: readonly number[], count: number, seed: number): number[] {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`sample size: expected a positive integer, received ${count}`);
  if (count >= filters.length) return [...filters];
  const random = createRandom(deriveSeed(seed, 7));
  const pool = [...filters];
  for (let i = 0; i < count; i++) {
    const j = i + Math.min(pool.length - i - 1, Math.floor(random.next() * (pool.length - i)));
    [pool[i], pool[j]] = [pool[j], pool[i]];
  }
  return pool.slice(0, count).sort((a, b) => a - b);
}
