/**
 * "Did you mean ...?": the closest names to a mistyped one, by edit distance. Ten lines of
 * Levenshtein are smaller than a dependency and enough for field, flag and layer names.
 */

/** Edit distance (insertions, deletions, substitutions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const [s, t] = [a.toLowerCase(), b.toLowerCase()];
  let previous = Array.from({ length: t.length + 1 }, (_, j) => j);
  for (let i = 1; i <= s.length; i++) {
    const row = [i];
    for (let j = 1; j <= t.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (s[i - 1] === t[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[t.length];
}

/**
 * Up to `limit` candidates close to `name`, closest first: within a third of the name's length
 * (at least 2 edits), or containing it / contained in it. Nothing when no candidate is close.
 */
export function closestNames(name: string, candidates: Iterable<string>, limit = 3): string[] {
  const lower = name.toLowerCase();
  const budget = Math.max(2, Math.floor(name.length / 3));
  const scored: Array<{ candidate: string; distance: number }> = [];
  for (const candidate of new Set(candidates)) {
    const other = candidate.toLowerCase();
    const distance = editDistance(name, candidate);
    const contains = lower.length >= 3 && (other.includes(lower) || lower.includes(other));
    if (distance <= budget || contains) scored.push({ candidate, distance });
  }
  return scored
    .sort((x, y) => x.distance - y.distance || (x.candidate < y.candidate ? -1 : 1))
    .slice(0, limit)
    .map((s) => s.candidate);
}

/** ' Did you mean "a" or "b"?' or '' when nothing is close. */
export function didYouMean(name: string, candidates: Iterable<string>): string {
  const close = closestNames(name, candidates);
  if (close.length === 0) return '';
  const quoted = close.map((c) => JSON.stringify(c));
  return `Did you mean ${quoted.length === 1 ? quoted[0] : `${quoted.slice(0, -1).join(', ')} or ${quoted.at(-1)}`}?`;
}
