/**
 * Every URL the site emits, built from the deploy base (`SITE_BASE`). Pages
 * never concatenate paths themselves, so a base like `/atlas/` or an odd layer name works everywhere.
 */
import type { DiffAtlasSide, SiteAtlas, SiteDiff, SiteHistory, SiteLayer, SiteProbe } from './site-types.js';

/** Where atlas files (visualisations, crops, charts) are copied inside dist/. */
export const FILES_SEGMENT = 'files';

/**
 * Where the files of a diff side whose atlas the site does not have are copied, under files/
 * (`diffs` is a reserved atlas slug, so this never meets an atlas's files).
 */
export function diffFilesSegments(diff: Pick<SiteDiff, 'slug'>, side: Pick<DiffAtlasSide, 'which'>): string[] {
  return ['diffs', diff.slug, side.which];
}

/** Splits an atlas-relative path into URL-encoded segments (the file name may hold spaces, `#`, `?`). */
export function encodePath(relative: string): string {
  return relative.split(/[\\/]+/).filter(Boolean).map(encodeURIComponent).join('/');
}

export interface Urls {
  base: string;
  home(): string;
  search(query?: string): string;
  atlas(atlas: SiteAtlas): string;
  layer(atlas: SiteAtlas, layer: SiteLayer): string;
  filter(atlas: SiteAtlas, layer: SiteLayer, filter: number): string;
  /** A page of a layer's grid in a sort order; index order page 1 is the layer's own URL. */
  layerPage(atlas: SiteAtlas, layer: SiteLayer, order: string, page: number): string;
  /** The page that probes a user's photo in the browser. */
  tryProbe(atlas: SiteAtlas): string;
  probe(atlas: SiteAtlas, probe: SiteProbe): string;
  /** URL of a file of the atlas folder, as copied into dist/ by the build integration. */
  file(atlas: SiteAtlas, relative: string): string;
  diffs(): string;
  diff(diff: SiteDiff): string;
  /**
   * URL of a file one side of a diff shows (`relative` to the side's atlas folder): the site
   * atlas's copy when the site has that atlas folder, else the diff's own copy.
   */
  diffFile(diff: SiteDiff, side: DiffAtlasSide, relative: string): string;
  histories(): string;
  history(history: Pick<SiteHistory, 'slug'>): string;
  /** Any path under the base (pagefind bundle, icon, onnxruntime-web). */
  asset(path: string): string;
}

/** Normalises a base to `/` or `/some/path/`. */
export function normaliseBase(base: string | undefined): string {
  const trimmed = (base ?? '/').trim().replace(/^\/+|\/+$/g, '');
  return trimmed === '' ? '/' : `/${trimmed}/`;
}

export function makeUrls(baseInput: string | undefined): Urls {
  const base = normaliseBase(baseInput);
  const seg = (s: string) => encodeURIComponent(s);
  const urls: Urls = {
    base,
    home: () => base,
    search: (query) => `${base}search/${query ? `?q=${encodeURIComponent(query)}` : ''}`,
    atlas: (a) => `${base}${seg(a.slug)}/`,
    layer: (a, l) => `${urls.atlas(a)}${seg(l.slug)}/`,
    filter: (a, l, f) => `${urls.layer(a, l)}${f}/`,
    layerPage: (a, l, order, page) => (order === 'index' && page === 1 ? urls.layer(a, l) : `${urls.layer(a, l)}by/${seg(order)}/${page}/`),
    tryProbe: (a) => `${urls.atlas(a)}probe/`,
    probe: (a, p) => `${urls.atlas(a)}probes/${seg(p.slug)}/`,
    file: (a, relative) => `${base}${FILES_SEGMENT}/${seg(a.slug)}/${encodePath(relative)}`,
    diffs: () => `${base}diffs/`,
    diff: (d) => `${urls.diffs()}${seg(d.slug)}/`,
    diffFile: (d, side, relative) =>
      side.site ? urls.file(side.site, relative) : `${base}${FILES_SEGMENT}/${diffFilesSegments(d, side).map(seg).join('/')}/${encodePath(relative)}`,
    histories: () => `${base}histories/`,
    history: (h) => `${urls.histories()}${seg(h.slug)}/`,
    asset: (path) => `${base}${path.replace(/^\/+/, '')}`,
  };
  return urls;
}
