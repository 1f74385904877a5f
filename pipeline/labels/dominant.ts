/**
 * A filter's label with its evidence. Each top image's class counts for the class and for every
 * hypernym of it (WordNet, hierarchy.ts), so nine dog breeds make "dog 9/9" rather than nine breeds
 * x1. A label is shown only when it passes the test below against the dataset's own base rates;
 * otherwise the filter has no dominant class (an early texture filter whose top images happen to be
 * an umbrella and a worm fence).
 *
 * The test, for a label s whose subtree holds c of the filter's k labelled top images and a fraction
 * b of the dataset's labelled images:
 *  - c >= k / 2 (a majority of the top images), and
 *  - P(X >= c) < 0.001 for X ~ Binomial(k, b): the chance that k images drawn at the dataset's base
 *    rate put that many under s.
 * Among the labels that pass, the one with the most top images wins, then the most specific (lowest
 * base rate), so "dog 9/9" beats "mammal 9/9" and "terrier 9/9" beats "dog 9/9".
 */
import type { LabelHierarchy } from './hierarchy.js';

export const MIN_SHARE = 0.5;
export const MAX_P = 0.001;

export interface DominantLabel {
  /** Human-readable name (a dataset class name, or a WordNet lemma for a hypernym). */
  label: string;
  /** WordNet id, when the dataset's classes have them. */
  wnid?: string;
  /** Labelled top images under the label, of `of`. */
  count: number;
  of: number;
  /** Fraction of the dataset's labelled images under the label. */
  baseRate: number;
  /** One-sided binomial tail P(X >= count), X ~ Binomial(of, baseRate). */
  p: number;
  /** Broader labels that are still specific (base rate below 1/2), most specific first: "hunting dog", "dog", ... */
  broader: string[];
}

/** Images per label (each image counted for its class and every ancestor) over the scanned dataset. */
export interface BaseRates {
  counts: Map<string, number>;
  /** Labelled images. */
  total: number;
}

export function baseRates(hierarchy: LabelHierarchy, classes: readonly (string | undefined)[]): BaseRates {
  const counts = new Map<string, number>();
  let total = 0;
  for (const id of classes) {
    if (id === undefined) continue;
    total++;
    for (const a of hierarchy.ancestors(id)) counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  return { counts, total };
}

/** P(X >= c) for X ~ Binomial(n, p), summed term by term (n is a top-k, tens at most). */
export function binomialTail(c: number, n: number, p: number): number {
  if (c <= 0) return 1;
  if (c > n) return 0;
  let sum = 0;
  let coefficient = 1; // C(n, x), built up as x grows
  for (let x = 0; x <= n; x++) {
    if (x > 0) coefficient = (coefficient * (n - x + 1)) / x;
    if (x >= c) sum += coefficient * p ** x * (1 - p) ** (n - x);
  }
  return Math.min(1, sum);
}

/**
 * The dominant label of a filter's top images (their class ids, undefined for unlabelled images),
 * null when none passes the test, undefined when no top image is labelled (nothing to test).
 */
export function dominantLabel(hierarchy: LabelHierarchy, base: BaseRates, topClasses: readonly (string | undefined)[]): DominantLabel | null | undefined {
  const labelled = topClasses.filter((c): c is string => c !== undefined);
  const k = labelled.length;
  if (k === 0 || base.total === 0) return undefined;
  const counts = new Map<string, number>();
  for (const id of labelled) for (const a of hierarchy.ancestors(id)) counts.set(a, (counts.get(a) ?? 0) + 1);
  let best: { id: string; count: number; rate: number; p: number } | undefined;
  for (const [id, count] of counts) {
    if (count < MIN_SHARE * k) continue;
    const rate = (base.counts.get(id) ?? 0) / base.total;
    const p = binomialTail(count, k, rate);
    if (!(p < MAX_P)) continue;
    if (!best || count > best.count || (count === best.count && (rate < best.rate || (rate === best.rate && id < best.id)))) best = { id, count, rate, p };
  }
  if (!best) return null;
  const rateOf = (id: string) => (base.counts.get(id) ?? 0) / base.total;
  const broader = hierarchy
    .ancestors(best.id)
    .filter((a) => a !== best.id && rateOf(a) < 0.5)
    .sort((a, b) => rateOf(a) - rateOf(b) || (a < b ? -1 : 1))
    .map((a) => hierarchy.name(a));
  return {
    label: hierarchy.name(best.id),
    ...(hierarchy.isWordnet ? { wnid: best.id } : {}),
    count: best.count,
    of: k,
    baseRate: best.rate,
    p: best.p,
    broader: [...new Set(broader)],
  };
}
