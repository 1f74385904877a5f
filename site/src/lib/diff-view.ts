/**
 * What the diff pages show, decided once: which rows carry which images (the build copies
 * exactly these files), links from a diff row to the atlases' filter and layer pages, images of
 * a diff side with their sizes, and the words for each status.
 */
import { join } from 'node:path';
import { FILTER_STATUS_LABELS, FILTER_STATUSES, type AtlasDiff, type FilterDiff, type FilterStatus } from '../../../pipeline/diff/schema.js';
import { userError } from '../../../pipeline/errors.js';
import { sideFile } from './diffs.js';
import { imageSize } from './image-size.js';
import type { DiffAtlasSide, DiffSideKey, ImageRef, SiteAtlas, SiteDiff, SiteLayer } from './site-types.js';
import type { Urls } from './urls.js';

/**
 * Rows of the ranked list that show both sides' top dataset images. Each such row holds 2k
 * thumbnails; a whole-model diff (vgg16_bn: 1,664 units) would otherwise weigh megabytes of HTML.
 * Rows below keep the overlap as a number.
 */
export const TOP_IMAGE_ROWS = 200;

export { FILTER_STATUS_LABELS, FILTER_STATUSES };

export const STATUS_TEXT: Record<FilterStatus, string> = {
  unchanged: 'same unit: every signal agrees',
  drifted: 'small change: the unit still responds to the same things',
  changed: 'the unit responds to other things now',
  died: 'dead in B (constant over the dataset), alive in A',
  revived: 'dead in A, alive in B',
  dead: 'dead in both: constant over the dataset, or a flat picture (dead relative to its layer) on each side; nothing to compare, score 0',
};

/** Atlas-relative files the diff page shows for one side: visualisation thumbnails, and top-image thumbnails of the first rows. */
export function diffPageFiles(diff: SiteDiff, side: DiffAtlasSide): string[] {
  const files = new Set<string>();
  diff.diff.filters.forEach((f, row) => {
    const unit = f[side.which];
    if (unit.thumb) files.add(sideFile(diff, side, unit.thumb));
    if (row < TOP_IMAGE_ROWS) for (const t of unit.top) if (t.thumb) files.add(sideFile(diff, side, t.thumb));
  });
  return [...files].sort();
}

/** An image of one side of a diff (`path` as diff.json writes it): URL and intrinsic size. */
export async function diffImageRef(urls: Urls, diff: SiteDiff, side: DiffAtlasSide, path: string): Promise<ImageRef> {
  const relative = sideFile(diff, side, path);
  const size = await imageSize(join(side.dir, relative)).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'ENOENT') throw error;
    throw userError({
      where: diff.file,
      expected: `the file it references, ${JSON.stringify(path)} (in atlas ${side.which.toUpperCase()}, ${side.dir})`,
      received: 'no such file',
      fix: 'The atlas folder moved or is incomplete: keep diffs/ and the atlases side by side in one output folder, or rerun `filter-atlas diff`.',
    });
  });
  return { src: urls.diffFile(diff, side, relative), ...size };
}

/** The site layer of a diff side's atlas, when the site has the very build the diff compared. */
export function sideLayer(side: DiffAtlasSide, layer: string): SiteLayer | undefined {
  return side.linked ? side.site?.layers.find((l) => l.layer.name === layer) : undefined;
}

/** Filter page of unit `filter` of a layer on one side, when the site has it. */
export function sideFilterUrl(urls: Urls, side: DiffAtlasSide, layer: string, filter: number): string | undefined {
  const entry = sideLayer(side, layer);
  if (!side.site || !entry?.layer.filters.some((f) => f.filter === filter)) return undefined;
  return urls.filter(side.site, entry, filter);
}

/** Counts per status in the order of FILTER_STATUSES, for summaries and the index. */
export function statusCounts(diff: AtlasDiff): { status: FilterStatus; count: number }[] {
  return FILTER_STATUSES.map((status) => ({ status, count: diff.summary[status] }));
}

/** Files of A's and B's top-k that both lists hold (the top-k overlap, by dataset file). */
export function sharedTopFiles(row: FilterDiff): Set<string> {
  const inB = new Set(row.b.top.map((t) => t.file));
  return new Set(row.a.top.filter((t) => inB.has(t.file)).map((t) => t.file));
}

/**
 * Scores and signals live in [-1, 1]-ish ranges, where `1.6e-7` or `1` read worse than `0.000` and
 * `1.00`: fixed decimals, no negative zero, an em dash for a missing value.
 */
export function fixed(value: number | null | undefined, digits: number): string {
  if (value === null || value === undefined || Number.isNaN(value)) return '—';
  return (Math.abs(value) < 0.5 * 10 ** -digits ? 0 : value).toFixed(digits);
}

/** `a → b`, with each side's build date when both are one atlas (the nightly diffs a build against the published one). */
export function diffName(diff: AtlasDiff): string {
  if (diff.a.id !== diff.b.id) return `${diff.a.id} → ${diff.b.id}`;
  const day = (iso: string) => iso.slice(0, 16).replace('T', ' ');
  return `${diff.a.id} (${day(diff.a.createdAt)}) → ${diff.b.id} (${day(diff.b.createdAt)})`;
}

/**
 * The rows of every diff that compared this very unit (the side is this atlas's build): what a
 * filter page lists under "In diffs". `other` is the side it was compared with.
 */
export function unitInDiffs(diffs: readonly SiteDiff[], site: SiteAtlas, layer: string, filter: number): { diff: SiteDiff; as: DiffSideKey; other: DiffAtlasSide; row: FilterDiff }[] {
  const found: { diff: SiteDiff; as: DiffSideKey; other: DiffAtlasSide; row: FilterDiff }[] = [];
  for (const diff of diffs) {
    for (const [side, other] of [[diff.a, diff.b], [diff.b, diff.a]] as const) {
      if (!side.linked || side.site?.dir !== site.dir) continue;
      const row = diff.diff.filters.find((f) => f.layer === layer && f[side.which].filter === filter);
      if (row) found.push({ diff, as: side.which, other, row });
    }
  }
  return found;
}
