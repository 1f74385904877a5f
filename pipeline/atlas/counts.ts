/**
 * What a build or a merge made, counted as the site shows it: *filters* are the distinct (layer,
 * filter) pairs with a main picture (a filter's page and grid tile), each counted once by that
 * picture's status, however many methods its layer uses; *pictures* are every picture of every
 * method, counted per method kind. A layer of two methods has 32 filters and 64 pictures.
 *
 * Statuses (schema/atlas.ts): a picture is `failed` (diverged twice, or a non-finite objective: no
 * image), `dead` (the objective did not rise, relative to its layer: dead-in-layer.ts), else `flagged` when a flag the site shows as a badge is
 * raised (`diverged`: it succeeded on its retry at half the learning rate; `lowContrast`), else `ok`.
 */
import type { FilterFlags, MethodKindName } from '../schema/atlas.js';
import { ranges } from './missing.js';

export const PICTURE_STATUSES = ['ok', 'flagged', 'dead', 'failed'] as const;
export type PictureStatus = (typeof PICTURE_STATUSES)[number];

/** How many there are in all, and per status. */
export type StatusCounts = { total: number } & Record<PictureStatus, number>;

/** Failed pictures of one layer by one method, as the filters they belong to. */
export interface FailedPictures {
  layer: string;
  method: MethodKindName;
  filters: number[];
}

export interface AtlasCounts {
  /** Distinct (layer, filter) pairs with a main picture, by the main picture's status. */
  filters: StatusCounts;
  /** Every picture of every method, and per method kind (only the kinds that have pictures). */
  pictures: StatusCounts & { byMethod: Partial<Record<MethodKindName, StatusCounts>> };
  /** Every failed picture, of any method, per layer and method (layer order, main method first). */
  failed: FailedPictures[];
}

/** What counting needs of a picture (a visualisation record, or an atlas filter). */
export interface CountedPicture {
  status: 'ok' | 'dead' | 'failed';
  flags: Pick<FilterFlags, 'diverged' | 'lowContrast'>;
}

/** What counting needs of a layer: its name and its methods' kinds (atlas.json's layer, or a frame's). */
export interface CountedLayer {
  name: string;
  method?: { kind?: MethodKindName };
  otherMethods?: ReadonlyArray<{ kind?: MethodKindName }>;
}

export function pictureStatus(picture: CountedPicture): PictureStatus {
  if (picture.status !== 'ok') return picture.status;
  return picture.flags.diverged || picture.flags.lowContrast ? 'flagged' : 'ok';
}

const zero = (): StatusCounts => ({ total: 0, ok: 0, flagged: 0, dead: 0, failed: 0 });

function add(counts: StatusCounts, status: PictureStatus): void {
  counts.total++;
  counts[status]++;
}

/**
 * Counts of the pictures `pictures` holds: layer -> per method of the layer (main first, as
 * `layers` lists them) -> filter -> picture (assemble.ts AtlasContent.filters). A layer or method
 * without an entry has no pictures; a filter without a main picture (a shard that did only its other
 * method's batch) counts among the pictures, not the filters.
 */
export function countPictures(layers: readonly CountedLayer[], pictures: ReadonlyMap<string, ReadonlyArray<ReadonlyMap<number, CountedPicture>>>): AtlasCounts {
  const counts: AtlasCounts = { filters: zero(), pictures: { ...zero(), byMethod: {} }, failed: [] };
  for (const layer of layers) {
    const kinds = [layer.method?.kind ?? 'article', ...(layer.otherMethods ?? []).map((m) => m.kind ?? 'article')];
    const methods = pictures.get(layer.name) ?? [];
    for (const [m, kind] of kinds.entries()) {
      const byFilter = methods[m];
      if (!byFilter || byFilter.size === 0) continue;
      const perMethod = (counts.pictures.byMethod[kind] ??= zero());
      const failed: number[] = [];
      for (const [filter, picture] of byFilter) {
        const status = pictureStatus(picture);
        if (m === 0) add(counts.filters, status);
        add(counts.pictures, status);
        add(perMethod, status);
        if (status === 'failed') failed.push(filter);
      }
      if (failed.length > 0) counts.failed.push({ layer: layer.name, method: kind, filters: failed.sort((a, b) => a - b) });
    }
  }
  return counts;
}

/** The counts of an atlas as atlas.json holds them (its filters with their `others`). */
export function countAtlas(atlas: { layers: ReadonlyArray<CountedLayer & { filters: ReadonlyArray<CountedPicture & { filter: number; others?: ReadonlyArray<CountedPicture & { kind: MethodKindName }> }> }> }): AtlasCounts {
  const pictures = new Map(
    atlas.layers.map((layer) => {
      const kinds = (layer.otherMethods ?? []).map((m) => m.kind ?? 'article');
      const main = new Map(layer.filters.map((f) => [f.filter, f] as const));
      const others = kinds.map((kind) => new Map(layer.filters.flatMap((f) => f.others?.filter((o) => o.kind === kind).map((o) => [f.filter, o] as const) ?? [])));
      return [layer.name, [main, ...others]] as const;
    }),
  );
  return countPictures(atlas.layers, pictures);
}

function statusWords(counts: StatusCounts): string {
  return PICTURE_STATUSES.map((status) => `${counts[status]} ${status}`).join(', ');
}

/**
 * "32 filters (30 ok, 1 flagged, 1 dead, 0 failed), 64 pictures (32 article, 32 lucid; 63 ok, ...)":
 * filters by their main picture's status, pictures per method and by status.
 */
export function describeCounts(counts: AtlasCounts): string {
  const perMethod = Object.entries(counts.pictures.byMethod).map(([kind, c]) => `${c.total} ${kind}`);
  return (
    `${counts.filters.total} filter${counts.filters.total === 1 ? '' : 's'} (${statusWords(counts.filters)}), ` +
    `${counts.pictures.total} picture${counts.pictures.total === 1 ? '' : 's'} (${perMethod.length > 0 ? `${perMethod.join(', ')}; ` : ''}${statusWords(counts.pictures)})`
  );
}

/** "2 of leaky_re_lu_2 by article (3, 5); 1 of conv2d_16 by lucid (4)" */
export function describeFailed(failed: readonly FailedPictures[]): string {
  return failed.map((f) => `${f.filters.length} of ${f.layer} by ${f.method} (${ranges(f.filters)})`).join('; ');
}
