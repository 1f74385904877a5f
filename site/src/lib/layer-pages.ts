/**
 * A layer's filters as pages of at most PAGE_SIZE tiles, in each sort order, all static: a
 * 1000-filter layer is 5 pages per order, every page and every order a plain link (no script
 * needed to browse or sort). Page 1 in index order is the layer's own URL.
 */
import type { AtlasFilter, AtlasLayer } from '../../../pipeline/schema/atlas.js';
import { topLabel } from './format.js';

export const PAGE_SIZE = 200;

export const ORDERS = {
  index: { text: 'index', compare: (a: AtlasFilter, b: AtlasFilter) => a.filter - b.filter },
  activation: { text: 'activation reached', compare: (a: AtlasFilter, b: AtlasFilter) => b.activation - a.activation || a.filter - b.filter },
  superstimulus: { text: 'superstimulus ratio', compare: (a: AtlasFilter, b: AtlasFilter) => (b.superstimulus ?? -Infinity) - (a.superstimulus ?? -Infinity) || a.filter - b.filter },
  label: {
    text: 'label',
    // Labelled filters first, by label; the rest by index.
    compare: (a: AtlasFilter, b: AtlasFilter) => (topLabel(a) ?? '\uffff').localeCompare(topLabel(b) ?? '\uffff') || a.filter - b.filter,
  },
} as const;
export type Order = keyof typeof ORDERS;
export const ORDER_NAMES = Object.keys(ORDERS) as Order[];

export function pageCount(layer: AtlasLayer): number {
  return Math.max(1, Math.ceil(layer.filters.length / PAGE_SIZE));
}

/** The filters of page `page` (1-based) in `order`. */
export function pageFilters(layer: AtlasLayer, order: Order, page: number): AtlasFilter[] {
  const sorted = [...layer.filters].sort(ORDERS[order].compare);
  return sorted.slice((page - 1) * PAGE_SIZE, page * PAGE_SIZE);
}

/** Every (order, page) but the layer's own URL (index order, page 1). */
export function extraPages(layer: AtlasLayer): { order: Order; page: number }[] {
  const out: { order: Order; page: number }[] = [];
  for (const order of ORDER_NAMES) for (let page = 1; page <= pageCount(layer); page++) if (order !== 'index' || page > 1) out.push({ order, page });
  return out;
}
