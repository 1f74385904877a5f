/**
 * Reads every diff of the output folder (`<output>/diffs/<A>__<B>/diff.json`, written by
 * `filter-atlas diff`), validates it with the pipeline's diff schema and resolves its two sides:
 * the atlas folder each side's file paths point into, the site atlas built from that folder (its
 * files are then served from the atlas's own URL space, copied once), and whether that atlas is
 * the very build the diff compared (only then do rows link to the atlas's filter pages: after a
 * rebuild, filter N's page shows another visualisation than the diff did).
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { DIFF_SCHEMA_VERSION, diffSchema, type AtlasDiff } from '../../../pipeline/diff/schema.js';
import { describeValue, userError } from '../../../pipeline/errors.js';
import { insideFolder } from '../../../pipeline/util/paths.js';
import type { DiffAtlasSide, DiffSideKey, SiteAtlas, SiteDiff } from './site-types.js';
import { assignSlugs, slugify } from './slug.js';

/** The folder of the output directory that holds diffs (a reserved root segment of the site). */
export const DIFFS_FOLDER = 'diffs';

function summariseIssues(issues: readonly { path: readonly PropertyKey[]; message: string }[]): string {
  const shown = issues.slice(0, 5).map((i) => `${i.path.map(String).join('.') || '(root)'}: ${i.message}`);
  if (issues.length > shown.length) shown.push(`and ${issues.length - shown.length} more`);
  return shown.join('; ');
}

const RERUN = 'Rerun `filter-atlas diff <atlasA> <atlasB>` with this version of filter-atlas (it rewrites diff.json), or delete the diff folder.';

async function readDiff(file: string): Promise<AtlasDiff> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw userError({ where: file, expected: 'a readable JSON diff', received: (error as Error).message, fix: RERUN }, error);
  }
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== DIFF_SCHEMA_VERSION) {
    throw userError({ where: `${file} (schemaVersion)`, expected: `diff schema version ${DIFF_SCHEMA_VERSION}`, received: describeValue(version), fix: RERUN });
  }
  const parsed = diffSchema.safeParse(raw);
  if (!parsed.success) {
    throw userError({ where: file, expected: 'a diff.json matching the diff schema', received: summariseIssues(parsed.error.issues), fix: RERUN });
  }
  return parsed.data;
}

/**
 * A path of the diff (relative to the diff folder) as a path relative to its side's atlas folder.
 * Anything that leaves that folder is an error naming diff.json, never read.
 */
export function sideFile(diff: Pick<SiteDiff, 'dir' | 'file'>, side: Pick<DiffAtlasSide, 'dir' | 'which'>, path: string): string {
  const inside = isAbsolute(path) ? undefined : insideFolder(side.dir, resolve(diff.dir, path));
  if (inside === undefined) {
    throw userError({
      where: diff.file,
      expected: `file paths of atlas ${side.which.toUpperCase()} inside its folder ${side.dir}`,
      received: JSON.stringify(path),
      fix: RERUN,
    });
  }
  return inside;
}

/** Every file path one side of the diff names (visualisations, thumbnails, dataset thumbnails). */
export function sidePaths(diff: AtlasDiff, which: DiffSideKey): string[] {
  const paths: string[] = [];
  for (const f of diff.filters) {
    const side = f[which];
    if (side.image) paths.push(side.image);
    if (side.thumb) paths.push(side.thumb);
    for (const t of side.top) if (t.thumb) paths.push(t.thumb);
  }
  return paths;
}

/**
 * One side of a diff: its atlas folder, which must lie in the output folder (a diff.json is data:
 * its `path` may say anything, and the site publishes files from that folder).
 */
function resolveSide(diff: AtlasDiff, file: string, outputDir: string, which: DiffSideKey, atlases: readonly SiteAtlas[]): DiffAtlasSide {
  const ref = diff[which];
  const atlasDir = resolve(dirname(file), ref.path);
  if (insideFolder(outputDir, atlasDir) === undefined) {
    throw userError({
      where: `${file} (${which}.path)`,
      expected: `the folder of atlas ${which.toUpperCase()} inside the output folder ${resolve(outputDir)}`,
      received: JSON.stringify(ref.path),
      fix: RERUN,
    });
  }
  const site = atlases.find((a) => resolve(a.dir) === atlasDir);
  const linked = site !== undefined && site.atlas.id === ref.id && site.atlas.createdAt === ref.createdAt;
  return { which, ref, dir: atlasDir, ...(site ? { site } : {}), linked };
}

/**
 * Loads every `<output>/diffs/<name>/diff.json` (folders without one are skipped), newest first.
 * A diff that does not validate, or names a file outside its atlases' folders, is an error.
 */
export async function loadDiffs(outputDir: string, atlases: readonly SiteAtlas[]): Promise<SiteDiff[]> {
  const root = join(outputDir, DIFFS_FOLDER);
  const names = await readdir(root, { withFileTypes: true })
    .then((entries) => entries.filter((e) => e.isDirectory()).map((e) => e.name).sort())
    .catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw userError({ where: `diff folder ${root}`, expected: 'a readable folder of diffs', received: error.code ?? error.message }, error);
    });
  const found: { name: string; dir: string; file: string; diff: AtlasDiff }[] = [];
  for (const name of names) {
    const dir = join(root, name);
    const file = join(dir, 'diff.json');
    if (!(await stat(file).catch(() => undefined))?.isFile()) continue;
    found.push({ name, dir, file, diff: await readDiff(file) });
  }
  const slugs = assignSlugs(found.map((d) => d.name));
  const diffs = found.map(({ name, dir, file, diff }): SiteDiff => {
    const entry: SiteDiff = {
      diff,
      slug: slugs.get(name) ?? slugify(name),
      dir,
      file,
      a: resolveSide(diff, file, outputDir, 'a', atlases),
      b: resolveSide(diff, file, outputDir, 'b', atlases),
    };
    // Checked now so a bad path fails the build with the diff's name before any page renders.
    for (const side of [entry.a, entry.b]) for (const path of sidePaths(diff, side.which)) sideFile(entry, side, path);
    return entry;
  });
  return diffs.sort((x, y) => y.diff.createdAt.localeCompare(x.diff.createdAt) || x.slug.localeCompare(y.slug));
}

/** Diffs with the atlas on either side (the side's folder is the atlas's folder, whatever build it compared). */
export function diffsOfAtlas(diffs: readonly SiteDiff[], site: SiteAtlas): { diff: SiteDiff; as: DiffSideKey[] }[] {
  return diffs
    .map((diff) => ({ diff, as: [diff.a, diff.b].filter((side) => side.site !== undefined && side.site.dir === site.dir).map((side) => side.which) }))
    .filter((entry) => entry.as.length > 0);
}
