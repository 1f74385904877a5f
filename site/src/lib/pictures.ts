/**
 * Which file of a filter each page shows: small WebP thumbnails at 1x and 2x (srcset) in grids,
 * the high-quality WebP on the filter page, and the lossless PNG behind a link when the site
 * publishes the originals (SITE_LOSSLESS=png). Atlases of schema 1 have only the PNG and a 160 px
 * `thumb`; they still show. Builds no longer write that thumbnail (one thumbnail pipeline: the web
 * images), so `thumb` is read here only for them.
 */
import type { AtlasFilter } from '../../../pipeline/schema/atlas.js';

/** Whether the lossless PNGs are published (README "Light pages": they are 146 MB for the default atlas). */
export function publishLossless(env: NodeJS.ProcessEnv): boolean {
  return env.SITE_LOSSLESS?.trim().toLowerCase() === 'png';
}

/** Atlas-relative files of a filter's grid tile: [1x, 2x?] and the CSS size of the 1x one. */
export function tileFiles(filter: AtlasFilter): { x1: string; x2?: string; size?: number } | undefined {
  if (filter.web) return { x1: filter.web.thumb1x, x2: filter.web.thumb2x, size: filter.web.thumbSize };
  // Schema 1 atlases only.
  return filter.thumb ? { x1: filter.thumb } : undefined;
}

/** The picture the filter page shows: the WebP when there is one, else the PNG. */
export function fullFile(filter: AtlasFilter): string | undefined {
  return filter.web?.full ?? filter.image;
}

/** The lossless PNG the filter page links to, when published. */
export function losslessFile(filter: AtlasFilter, lossless: boolean): string | undefined {
  return filter.web && !lossless ? undefined : filter.image;
}
