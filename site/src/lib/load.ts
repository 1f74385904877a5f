/**
 * Reads every atlas under the output folder (`<output>/<atlas-id>/atlas.json`), validates it with
 * the pipeline's schema and gives each atlas, layer and probe its URL segment; the diffs of
 * `<output>/diffs/` are loaded by diffs.ts against those atlases. This is the only place the site
 * touches atlas.json; pages and the build integration both start here.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { atlasSchema, SUPPORTED_ATLAS_VERSIONS, type Atlas, type AtlasFilter, type AtlasLayer, type AtlasProbe } from '../../../pipeline/schema/atlas.js';
import { describeValue, userError } from '../../../pipeline/errors.js';
import { DIFFS_FOLDER, loadDiffs } from './diffs.js';
import { publishedFiles } from './files.js';
import type { SiteAtlas, SiteData, SiteLayer, SiteProbe } from './site-types.js';
import { assignSlugs, RESERVED_IN_ATLAS, RESERVED_ROOT, slugify } from './slug.js';
import { layerDisplayName } from './layer-names.js';

/** Folders of the output directory that are not atlases. */
const NOT_ATLASES = new Set([DIFFS_FOLDER]);

/** `FILTER_ATLAS_OUTPUT` or `<repo>/output`. */
export function resolveOutputDir(env: NodeJS.ProcessEnv, repoRoot: string): string {
  const configured = env.FILTER_ATLAS_OUTPUT?.trim();
  return configured ? resolve(configured) : join(repoRoot, 'output');
}

function summariseIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const shown = issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
  return shown.join('; ');
}

async function readAtlas(file: string): Promise<Atlas> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw userError(
      { where: file, expected: 'a readable JSON atlas', received: (error as Error).message, fix: 'Rebuild the atlas with `filter-atlas build`.' },
      error,
    );
  }
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (!(SUPPORTED_ATLAS_VERSIONS as readonly unknown[]).includes(version)) {
    throw userError({
      where: `${file} (schemaVersion)`,
      expected: `atlas schema version ${SUPPORTED_ATLAS_VERSIONS.join(' or ')}`,
      received: describeValue(version),
      fix: 'Rebuild the atlas with this version of filter-atlas, or build the site with the version that wrote it.',
    });
  }
  const parsed = atlasSchema.safeParse(raw);
  if (!parsed.success) {
    throw userError({
      where: file,
      expected: 'an atlas.json matching the atlas schema',
      received: summariseIssues(parsed.error.issues),
      fix: 'Rebuild the atlas with `filter-atlas build`; do not edit atlas.json by hand.',
    });
  }
  return parsed.data;
}

/** Filter indices within a layer, layer names and probe ids become URLs, so each must be unique. */
function checkUnique(file: string, atlas: Atlas): void {
  const duplicate = (values: readonly (string | number)[]) => values.find((v, i) => values.indexOf(v) !== i);
  const problems: string[] = [];
  const layer = duplicate(atlas.layers.map((l) => l.name));
  if (layer !== undefined) problems.push(`layer ${JSON.stringify(layer)} appears twice`);
  const probe = duplicate(atlas.probes.map((p) => p.id));
  if (probe !== undefined) problems.push(`probe ${JSON.stringify(probe)} appears twice`);
  for (const l of atlas.layers) {
    const filter = duplicate(l.filters.map((f) => f.filter));
    if (filter !== undefined) problems.push(`filter ${filter} appears twice in layer ${JSON.stringify(l.name)}`);
  }
  if (problems.length > 0) {
    throw userError({
      where: file,
      expected: 'unique layer names, probe ids and filter indices per layer',
      received: problems.join('; '),
      fix: 'Rebuild the atlas with `filter-atlas build`; do not merge atlas files by hand.',
    });
  }
}

/** Loads and validates every atlas; an empty or missing output folder is an error (the site would be empty). */
export async function loadSiteData(outputDir: string): Promise<SiteData> {
  let entries: string[];
  try {
    entries = (await readdir(outputDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name);
  } catch (error) {
    throw userError(
      {
        where: `output folder ${outputDir}`,
        expected: 'a folder of atlases (<atlas-id>/atlas.json)',
        received: (error as NodeJS.ErrnoException).code ?? 'an unreadable folder',
        fix: 'Build an atlas first (`filter-atlas build`), or set FILTER_ATLAS_OUTPUT to the folder that holds them.',
      },
      error,
    );
  }
  const atlases: { atlas: Atlas; dir: string }[] = [];
  for (const name of entries.filter((n) => !NOT_ATLASES.has(n)).sort()) {
    const dir = join(outputDir, name);
    const file = join(dir, 'atlas.json');
    if (!(await stat(file).catch(() => undefined))) continue;
    atlases.push({ atlas: await readAtlas(file), dir });
  }
  if (atlases.length === 0) {
    throw userError({
      where: `output folder ${outputDir}`,
      expected: 'at least one <atlas-id>/atlas.json',
      received: 'none',
      fix: 'Build an atlas first (`filter-atlas build`), or set FILTER_ATLAS_OUTPUT to the folder that holds them.',
    });
  }
  const seen = new Map<string, string>();
  for (const { atlas, dir } of atlases) {
    const other = seen.get(atlas.id);
    if (other) {
      throw userError({
        where: join(dir, 'atlas.json'),
        expected: 'atlas ids that are unique in the output folder',
        received: `id ${JSON.stringify(atlas.id)}, also used by ${join(other, 'atlas.json')}`,
        fix: 'Give one of the atlases another id in its config, or move it to another output folder.',
      });
    }
    seen.set(atlas.id, dir);
    checkUnique(join(dir, 'atlas.json'), atlas);
  }
  // Newest first on the home page; slugs are assigned in id order so they do not depend on dates.
  const atlasSlugs = assignSlugs(
    atlases.map((a) => a.atlas.id).sort(),
    RESERVED_ROOT,
  );
  const site = atlases.map(({ atlas, dir }): SiteAtlas => {
    const names = new Map(atlas.layers.map((l) => [l.name, layerDisplayName(l)]));
    const layerSlugs = assignSlugs([...names.values()], RESERVED_IN_ATLAS);
    // The segments node names had before the site showed aliases: old permalinks redirect from them.
    const legacySlugs = assignSlugs(atlas.layers.map((l) => l.name), RESERVED_IN_ATLAS);
    const current = new Set(layerSlugs.values());
    const probeSlugs = assignSlugs(atlas.probes.map((p) => p.id));
    return {
      atlas,
      dir,
      slug: atlasSlugs.get(atlas.id) ?? slugify(atlas.id),
      layers: atlas.layers.map((layer): SiteLayer => {
        const name = names.get(layer.name)!;
        const slug = layerSlugs.get(name) ?? slugify(name);
        const legacy = legacySlugs.get(layer.name);
        return { layer, name, slug, ...(legacy && legacy !== slug && !current.has(legacy) ? { legacySlug: legacy } : {}) };
      }),
      probes: atlas.probes.map((probe) => ({ probe, slug: probeSlugs.get(probe.id) ?? slugify(probe.id) })),
    };
  });
  site.sort((a, b) => b.atlas.createdAt.localeCompare(a.atlas.createdAt) || a.slug.localeCompare(b.slug));
  const data: SiteData = { outputDir, atlases: site, diffs: await loadDiffs(outputDir, site) };
  // Before any page reads a file: every file the site would publish must be one it may publish (publish.ts).
  await publishedFiles(data);
  return data;
}

/**
 * Astro calls each route's getStaticPaths once, and the build integration loads again; one
 * promise per output folder keeps a large atlas.json from being parsed once per route.
 */
const cache = new Map<string, Promise<SiteData>>();
export function loadSite(outputDir: string): Promise<SiteData> {
  let pending = cache.get(outputDir);
  if (!pending) {
    pending = loadSiteData(outputDir);
    cache.set(outputDir, pending);
  }
  return pending;
}

/** `features.42` -> ['features.', 42]; names without a trailing number have none. */
function splitIndex(name: string): [string, number | undefined] {
  const match = /^(.*?)(\d+)$/.exec(name);
  return match ? [match[1], Number(match[2])] : [name, undefined];
}

/**
 * The visualised layer whose filters a probe's channels are: the probe's own layer, or else the
 * nearest visualised layer before it in the same block with the same channel count (the article
 * probes the ReLU `features.42` and reads the spikes as filters of the conv `features.40`).
 * `exact` is false in the second case so pages can say so.
 */
export function probeLayer(site: SiteAtlas, probe: AtlasProbe): { entry: SiteLayer; exact: boolean } | undefined {
  const same = site.layers.find((l) => l.layer.name === probe.layer);
  if (same) return { entry: same, exact: true };
  const [prefix, index] = splitIndex(probe.layer);
  if (index === undefined) return undefined;
  let best: { entry: SiteLayer; index: number } | undefined;
  for (const entry of site.layers) {
    const [p, i] = splitIndex(entry.layer.name);
    if (p !== prefix || i === undefined || i > index || entry.layer.channels !== probe.means.length) continue;
    if (!best || i > best.index) best = { entry, index: i };
  }
  return best && { entry: best.entry, exact: false };
}

/** Probes of the atlas in which this filter is among the top filters, with its rank and mean. */
export function probesOfFilter(site: SiteAtlas, layer: AtlasLayer, filter: AtlasFilter): { probe: SiteProbe; rank: number; mean: number }[] {
  const found: { probe: SiteProbe; rank: number; mean: number }[] = [];
  for (const probe of site.probes) {
    if (probeLayer(site, probe.probe)?.entry.layer !== layer) continue;
    const rank = probe.probe.top.findIndex((t) => t.filter === filter.filter);
    if (rank >= 0) found.push({ probe, rank: rank + 1, mean: probe.probe.top[rank].mean });
  }
  return found;
}
