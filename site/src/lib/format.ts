/** Display helpers shared by the pages: numbers, labels, digests, dates, flag names. */
import type { AtlasFilter } from '../../../pipeline/schema/atlas.js';

/** Three significant digits (pipeline/util/number-format.ts: the CLI prints numbers the same way). */
export { num } from '../../../pipeline/util/number-format.js';

export function percent(fraction: number | undefined): string {
  if (fraction === undefined || !Number.isFinite(fraction)) return '—';
  return `${Number((fraction * 100).toPrecision(3))} %`;
}

/** ImageNet-style class names use underscores (great_white_shark); people and search want words. */
export function humanLabel(label: string): string {
  return label.replace(/_/g, ' ').trim();
}

/** `sha256:abcdef...` or a bare hex digest -> its first 12 characters. */
export function shortDigest(digest: string): string {
  const hex = digest.includes(':') ? digest.slice(digest.indexOf(':') + 1) : digest;
  return hex.slice(0, 12);
}

/** An ISO timestamp as `YYYY-MM-DD HH:MM UTC`; anything unparsable is shown as written. */
export function date(iso: string): string {
  const time = Date.parse(iso);
  if (Number.isNaN(time)) return iso;
  const d = new Date(time).toISOString();
  return `${d.slice(0, 10)} ${d.slice(11, 16)} UTC`;
}

/** The badges a filter gets: its status when not ok, and every raised flag. */
export function filterBadges(filter: AtlasFilter): { key: string; text: string }[] {
  const badges: { key: string; text: string }[] = [];
  if (filter.status !== 'ok') badges.push({ key: filter.status, text: filter.status });
  if (filter.flags.dead && filter.status !== 'dead') badges.push({ key: 'dead', text: 'dead' });
  if (filter.flags.diverged) badges.push({ key: 'diverged', text: 'diverged' });
  if (filter.flags.lowContrast) badges.push({ key: 'low-contrast', text: 'low contrast' });
  return badges;
}

/**
 * The filter's label: its dominant label when the atlas has them (none when no class dominates:
 * pipeline/labels/dominant.ts), else, for a schema 1 atlas, the most frequent class of its top images.
 */
export function topLabel(filter: AtlasFilter): string | undefined {
  if (filter.dominant !== undefined) return filter.dominant ? humanLabel(filter.dominant.label) : undefined;
  const label = filter.labels?.[0]?.label ?? filter.top?.find((t) => t.label)?.label;
  return label === undefined ? undefined : humanLabel(label);
}

/** What the page and the search facet say when no label passes the base-rate test. */
export const NO_DOMINANT = 'no dominant class';

export function plural(count: number, one: string, many = `${one}s`): string {
  return `${count} ${count === 1 ? one : many}`;
}

/**
 * A value for a Pagefind facet (`data-pagefind-filter`). Pagefind decodes HTML entities in facet
 * values when it indexes them (so escaping does not survive) and its default UI puts them into the
 * search page as HTML, not text; values come from users' titles, layer names and class labels
 * (classes.tsv, model files). A `<` only opens a tag when a letter, `/`, `!` or `?` follows it, and
 * `&` only starts an entity when a name or `#` follows it, so an invisible word joiner (U+2060) after
 * each `<` and `&` keeps the value's look and leaves nothing to decode or parse: text, never markup.
 */
export function facetValue(value: string): string {
  return value.replace(/[<&]/g, '$&\u2060');
}
