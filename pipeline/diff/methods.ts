/**
 * Like with like: an atlas layer may hold pictures by several methods (the article's and lucid's), and
 * two pictures by different methods differ for that reason alone. A diff therefore compares, per layer,
 * the pictures of one method both atlases have: A's main method when B has it too, else the first of
 * A's others that B has. With none in common the layer's pictures are not compared (no cross-activation,
 * no SSIM) and the diff says so.
 */
import type { AtlasFilter, AtlasLayer, MethodKindName } from '../schema/atlas.js';

/** A layer's method kinds, its main one first (an atlas from before the lucid method: article). */
export function layerKinds(layer: AtlasLayer): MethodKindName[] {
  return [layer.method?.kind ?? 'article', ...(layer.otherMethods ?? []).map((m) => m.kind ?? 'article')];
}

/** The method kind both layers have, preferring A's order; undefined when they share none. */
export function commonKind(a: AtlasLayer, b: AtlasLayer): MethodKindName | undefined {
  const inB = new Set(layerKinds(b));
  return layerKinds(a).find((kind) => inB.has(kind));
}

/** The method block of that kind in a layer, or the atlas-wide one for a layer without its own. */
export function methodOfKind(layer: AtlasLayer, fallback: AtlasLayer['method'], kind: MethodKindName): AtlasLayer['method'] {
  const main = layer.method ?? fallback;
  if ((main?.kind ?? 'article') === kind) return main;
  return layer.otherMethods?.find((m) => (m.kind ?? 'article') === kind);
}

/** A filter's picture by one method: its own fields (with its web images) for the layer's main method, else its `others` entry. */
export function pictureOf(filter: AtlasFilter, layer: AtlasLayer, kind: MethodKindName): Pick<AtlasFilter, 'status' | 'image' | 'thumb' | 'web' | 'activation'> | undefined {
  if ((layer.method?.kind ?? 'article') === kind) return filter;
  return filter.others?.find((view) => view.kind === kind);
}
