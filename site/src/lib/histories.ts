/**
 * Reads every history of the output folder (`<output>/histories/<name>/history.json`, written by
 * `filter-atlas history`), validates it with the pipeline's history schema and resolves its versions:
 * each version's atlas folder (which must lie in the output folder) and the site atlas built from it.
 * A version's pictures are served from that atlas's own URL space, so a history shows pictures of the
 * versions the site has; the page says which it lacks.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { HISTORY_SCHEMA_VERSION, historySchema, type AtlasHistory } from '../../../pipeline/schema/history.js';
import { describeValue, userError } from '../../../pipeline/errors.js';
import { insideFolder } from '../../../pipeline/util/paths.js';
import type { SiteAtlas, SiteHistory, SiteHistoryVersion } from './site-types.js';
import { assignSlugs, slugify } from './slug.js';

/** The folder of the output directory that holds histories (a reserved root segment of the site). */
export const HISTORIES_FOLDER = 'histories';

const RERUN = 'Rerun `filter-atlas history <atlas>...` with this version of filter-atlas (it rewrites history.json), or delete the history folder.';

async function readHistory(file: string): Promise<AtlasHistory> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    throw userError({ where: file, expected: 'a readable JSON history', received: (error as Error).message, fix: RERUN }, error);
  }
  const version = (raw as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (version !== HISTORY_SCHEMA_VERSION) {
    throw userError({ where: `${file} (schemaVersion)`, expected: `history schema version ${HISTORY_SCHEMA_VERSION}`, received: describeValue(version), fix: RERUN });
  }
  const parsed = historySchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw userError({ where: `${file} field ${issue.path.join('.') || '(root)'}`, expected: 'a history.json matching the history schema', received: issue.message, fix: RERUN });
  }
  return parsed.data;
}

/** A path of the history (relative to its folder) as a path relative to version k's atlas folder; leaving that folder is an error. */
export function versionFile(history: Pick<SiteHistory, 'dir' | 'file' | 'versions'>, k: number, path: string): string {
  const version = history.versions[k];
  const inside = isAbsolute(path) ? undefined : insideFolder(version.dir, resolve(history.dir, path));
  if (inside === undefined) {
    throw userError({ where: history.file, expected: `file paths of version ${k} inside its atlas folder ${version.dir}`, received: JSON.stringify(path), fix: RERUN });
  }
  return inside;
}

/** Every picture path the history page shows of version k (thumbnails), relative to that version's atlas folder. */
export function historyPageFiles(history: SiteHistory, k: number): string[] {
  const files = new Set<string>();
  for (const f of history.history.filters) {
    const thumb = f.points[k]?.thumb;
    if (thumb) files.add(versionFile(history, k, thumb));
  }
  return [...files];
}

/** Loads every `<output>/histories/<name>/history.json` (folders without one are skipped), newest first. */
export async function loadHistories(outputDir: string, atlases: readonly SiteAtlas[]): Promise<SiteHistory[]> {
  const root = join(outputDir, HISTORIES_FOLDER);
  const names = await readdir(root, { withFileTypes: true })
    .then((entries) => entries.filter((e) => e.isDirectory()).map((e) => e.name).sort())
    .catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return [];
      throw userError({ where: `history folder ${root}`, expected: 'a readable folder of histories', received: error.code ?? error.message }, error);
    });
  const found: { name: string; dir: string; file: string; history: AtlasHistory }[] = [];
  for (const name of names) {
    const dir = join(root, name);
    const file = join(dir, 'history.json');
    if (!(await stat(file).catch(() => undefined))?.isFile()) continue;
    found.push({ name, dir, file, history: await readHistory(file) });
  }
  const slugs = assignSlugs(found.map((h) => h.name));
  const histories = found.map(({ name, dir, file, history }): SiteHistory => {
    const versions = history.versions.map((ref, k): SiteHistoryVersion => {
      const atlasDir = resolve(dirname(file), ref.path);
      if (insideFolder(outputDir, atlasDir) === undefined) {
        throw userError({ where: `${file} (versions.${k}.path)`, expected: `the folder of version ${k} inside the output folder ${resolve(outputDir)}`, received: JSON.stringify(ref.path), fix: RERUN });
      }
      const site = atlases.find((a) => resolve(a.dir) === atlasDir);
      // Pictures of another build of that folder would not be the ones the history compared.
      const linked = site !== undefined && site.atlas.id === ref.id && site.atlas.createdAt === ref.createdAt;
      return { ref, dir: atlasDir, ...(site && linked ? { site } : {}) };
    });
    const entry: SiteHistory = { history, slug: slugs.get(name) ?? slugify(name), dir, file, versions };
    // Checked now so a bad path fails the build with the history's name before any page renders.
    versions.forEach((_, k) => historyPageFiles(entry, k));
    return entry;
  });
  return histories.sort((x, y) => y.history.createdAt.localeCompare(x.history.createdAt) || x.slug.localeCompare(y.slug));
}
