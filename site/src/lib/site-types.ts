/**
 * The site's own data types: an atlas, its layers and probes with their URL segments (load.ts builds
 * them), a diff with its two sides (diffs.ts), an image as a page uses it (images.ts). A leaf: it imports
 * only the pipeline's schemas, so every module of site/src/lib may import it without a circle.
 */
import type { AtlasDiff } from '../../../pipeline/diff/schema.js';
import type { Atlas, AtlasLayer, AtlasProbe } from '../../../pipeline/schema/atlas.js';

export interface SiteLayer {
  layer: AtlasLayer;
  /** What the site calls the layer: its shortest alias (layer-names.ts); `layer.name` is the node name. */
  name: string;
  /** URL segment, from `name`. */
  slug: string;
  /** The segment the node name gave before aliases were shown, when it differs: its pages redirect here (redirects.ts). */
  legacySlug?: string;
}

export interface SiteProbe {
  probe: AtlasProbe;
  slug: string;
}

export interface SiteAtlas {
  atlas: Atlas;
  slug: string;
  /** Absolute folder of the atlas; every path in atlas.json is relative to it. */
  dir: string;
  layers: SiteLayer[];
  probes: SiteProbe[];
}

export interface SiteData {
  outputDir: string;
  atlases: SiteAtlas[];
  /** Diffs of `<output>/diffs/`, newest first (see diffs.ts). */
  diffs: SiteDiff[];
}

export type DiffSideKey = 'a' | 'b';

export interface DiffAtlasSide {
  which: DiffSideKey;
  ref: AtlasDiff['a'];
  /** Absolute atlas folder; every file path of this side lies inside it. */
  dir: string;
  /** The site's atlas built from that folder, if the site has one: the side's files are served from it. */
  site?: SiteAtlas;
  /** True when `site` is the build the diff compared (same id and build time): filter pages are linked. */
  linked: boolean;
}

export interface SiteDiff {
  diff: AtlasDiff;
  /** URL segment under /diffs/, from the diff folder's name. */
  slug: string;
  /** Folder of diff.json; the paths in the diff are relative to it. */
  dir: string;
  file: string;
  a: DiffAtlasSide;
  b: DiffAtlasSide;
}

/** An atlas image as a page uses it: its URL in dist/ and its intrinsic size for width/height. */
export interface ImageRef {
  src: string;
  width: number;
  height: number;
}
