/**
 * Old permalinks of layers: before the site showed aliases, a layer's URL segment came from its node
 * name (`features-features.4-block-block.3-block.3.0-conv`); now it comes from its shortest alias
 * (`features.4`). Every page that existed under the old segment (the layer, each sort order and
 * page of it, each filter) gets a small page there that sends the browser to the new URL: a static
 * host has no server-side redirects. They carry no `data-pagefind-body`, so search ignores them.
 */
import { extraPages } from './layer-pages.js';
import type { SiteData } from './site-types.js';
import type { Urls } from './urls.js';

export interface Redirect {
  /** The old page's folder under dist/, as URL segments (it gets an index.html). */
  segments: string[];
  /** The URL it moved to (with the base). */
  to: string;
  /** What moved, in words. */
  what: string;
}

export function legacyLayerRedirects(data: SiteData, urls: Urls): Redirect[] {
  const out: Redirect[] = [];
  for (const site of data.atlases) {
    for (const entry of site.layers) {
      const old = entry.legacySlug;
      if (!old) continue;
      const what = `layer ${entry.name}`;
      out.push({ segments: [site.slug, old], to: urls.layer(site, entry), what });
      for (const { order, page } of extraPages(entry.layer)) out.push({ segments: [site.slug, old, 'by', order, String(page)], to: urls.layerPage(site, entry, order, page), what });
      for (const filter of entry.layer.filters) out.push({ segments: [site.slug, old, String(filter.filter)], to: urls.filter(site, entry, filter.filter), what: `filter ${filter.filter} of ${what}` });
    }
  }
  return out;
}

const escapeHtml = (text: string) => text.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A page that moves the browser on at once (meta refresh: no script, so the site's CSP needs nothing new) and says where to. */
export function redirectPage(redirect: Redirect): string {
  const to = escapeHtml(redirect.to);
  return (
    '<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">' +
    `<meta http-equiv="refresh" content="0; url=${to}"><link rel="canonical" href="${to}"><title>Moved: ${escapeHtml(redirect.what)}</title></head>` +
    `<body><p>The page of ${escapeHtml(redirect.what)} moved to <a href="${to}">${to}</a>.</p></body></html>\n`
  );
}
