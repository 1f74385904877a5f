/**
 * The atlas files the pages show (atlas pages and diff pages), and copying exactly those into
 * dist/ (plain copies: a published site must not depend on symlinks into the output folder).
 * Pages and the copy use the same lists, so dist/ holds no file a page does not reference, and
 * every one passes publish.ts (inside the output folder by real path, a regular image file).
 */
import { mkdir, realpath, writeFile } from 'node:fs/promises';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { userError } from '../../../pipeline/errors.js';
import { insideFolder } from '../../../pipeline/util/paths.js';
import type { Atlas } from '../../../pipeline/schema/atlas.js';
import { diffPageFiles } from './diff-view.js';
import { historyPageFiles } from './histories.js';
import { offeredHalf } from './probe-model.js';
import type { SiteAtlas, SiteData } from './site-types.js';
import { diffFilesSegments, FILES_SEGMENT } from './urls.js';
import { publishable, readPublishable, type PublishCheck } from './publish.js';
import { fullFile, losslessFile, publishLossless, tileFiles } from './pictures.js';

/**
 * Every atlas-relative file a page references: visualisations (WebP, the PNG when published),
 * thumbnails, crops, probe photos and charts, the browser probe's models.
 */
export function referencedFiles(atlas: Atlas, lossless = publishLossless(process.env)): string[] {
  const files = new Set<string>();
  for (const layer of atlas.layers) {
    for (const filter of layer.filters) {
      const tile = tileFiles(filter);
      for (const file of [tile?.x1, tile?.x2, fullFile(filter), losslessFile(filter, lossless)]) if (file) files.add(file);
      // The pictures by the layer's other methods, shown beside the main one.
      for (const view of filter.others ?? []) {
        if (view.image) files.add(view.image);
        if (view.thumb) files.add(view.thumb);
      }
      for (const top of filter.top ?? []) {
        files.add(top.crop);
        files.add(top.thumb);
      }
    }
  }
  for (const probe of atlas.probes) {
    files.add(probe.image);
    files.add(probe.chart);
  }
  if (atlas.probeModel) {
    files.add(atlas.probeModel.file);
    const half = offeredHalf(atlas.probeModel);
    if (half) files.add(half.file);
  }
  return [...files].sort();
}

/** Absolute path of an atlas file; a path that leaves the atlas folder is an error, never read. */
export function atlasFilePath(site: SiteAtlas, file: string): string {
  if (isAbsolute(file) || insideFolder(site.dir, file) === undefined) {
    throw userError({
      where: `${join(site.dir, 'atlas.json')}`,
      expected: 'file paths relative to the atlas folder, inside it',
      received: JSON.stringify(file),
      fix: 'Rebuild the atlas with `filter-atlas build`; do not edit atlas.json by hand.',
    });
  }
  return resolve(site.dir, file);
}

/** An atlas.json that names a file its folder lacks (a copied or half-deleted atlas). */
export function missingFileError(site: SiteAtlas, file: string): Error {
  return userError({
    where: join(site.dir, 'atlas.json'),
    expected: `the file it references, ${JSON.stringify(file)}`,
    received: 'no such file',
    fix: 'The atlas folder is incomplete: rerun `filter-atlas build` for this atlas (it resumes and rewrites missing files).',
  });
}

/**
 * A folder whose referenced files are copied to dist/files/<segments>/: an atlas folder (its own
 * files plus the ones diffs show of it), or the atlas folder of a diff side the site lacks.
 */
export interface FileRoot {
  dir: string;
  segments: string[];
  /** Path relative to `dir` -> the atlas.json or diff.json that names it (for errors). */
  files: Map<string, string>;
}

/** Every copied file of the site, by folder; pages, the copy and `astro dev` use this one list. */
export function fileRoots(data: SiteData): FileRoot[] {
  const byAtlas = new Map<SiteAtlas, FileRoot>();
  const roots: FileRoot[] = [];
  for (const site of data.atlases) {
    const source = join(site.dir, 'atlas.json');
    const root: FileRoot = { dir: site.dir, segments: [site.slug], files: new Map(referencedFiles(site.atlas).map((f) => [f, source])) };
    byAtlas.set(site, root);
    roots.push(root);
  }
  for (const diff of data.diffs) {
    for (const side of [diff.a, diff.b]) {
      let root = side.site && byAtlas.get(side.site);
      if (!root) {
        root = { dir: side.dir, segments: diffFilesSegments(diff, side), files: new Map() };
        roots.push(root);
      }
      for (const file of diffPageFiles(diff, side)) if (!root.files.has(file)) root.files.set(file, diff.file);
    }
  }
  // A history shows pictures of the versions the site has, from those atlases' own files.
  for (const history of data.histories) {
    history.versions.forEach((version, k) => {
      const root = version.site && byAtlas.get(version.site);
      if (root) for (const file of historyPageFiles(history, k)) if (!root.files.has(file)) root.files.set(file, history.file);
    });
  }
  return roots;
}

/** Absolute path of a root's file (paths were checked to stay inside when atlas.json / diff.json were read). */
function rootFilePath(root: FileRoot, file: string): { path: string; within: string } {
  const within = isAbsolute(file) ? undefined : insideFolder(root.dir, file);
  if (within === undefined) {
    throw userError({ where: root.files.get(file) ?? root.dir, expected: `file paths inside ${root.dir}`, received: JSON.stringify(file) });
  }
  return { path: resolve(root.dir, file), within };
}

/** The file a `files/...` URL path (decoded segments after `files/`) names, if the site serves it. */
export function servedFile(roots: readonly FileRoot[], segments: readonly string[]): string | undefined {
  for (const root of roots) {
    if (segments.length <= root.segments.length || !root.segments.every((s, i) => segments[i] === s)) continue;
    const file = segments.slice(root.segments.length).join('/');
    if (root.files.has(file)) return rootFilePath(root, file).path;
  }
  return undefined;
}

function missingFix(source: string): string {
  return source.endsWith('diff.json')
    ? 'The atlas folder moved or is incomplete: keep diffs/ and the atlases side by side in one output folder, or rerun `filter-atlas diff`.'
    : 'The atlas folder is incomplete: rerun `filter-atlas build` for this atlas (it resumes and rewrites missing files).';
}

/** One file of the published site: where its bytes are (real path) and where it goes under dist/. */
export interface PublishedFile {
  from: string;
  to: string[];
  size: number;
}

/** Each referenced file with the check publish.ts makes of it, and its place under dist/files/. */
async function publishChecks(data: SiteData): Promise<{ check: PublishCheck; to: string[] }[]> {
  const outputReal = await realpath(data.outputDir);
  return fileRoots(data).flatMap((root) =>
    [...root.files].map(([file, source]) => {
      const { path, within } = rootFilePath(root, file);
      return { check: { outputReal, path, file, source, missingFix: missingFix(source) }, to: [...root.segments, ...within.split('/')] };
    }),
  );
}

/**
 * Every file the site publishes, each checked by publish.ts; the first file that may not be
 * published (missing, a link out of the output folder, not a regular image file) is an error naming
 * the atlas.json or diff.json that references it. loadSiteData runs this before any page is written.
 */
export async function publishedFiles(data: SiteData): Promise<PublishedFile[]> {
  const out: PublishedFile[] = [];
  for (const { check, to } of await publishChecks(data)) {
    const { real, size } = await publishable(check);
    out.push({ from: real, to, size });
  }
  return out;
}

/**
 * Copies every referenced file into dist/files/ once all have passed publishedFiles: each is then
 * opened once more without following links, its whole content checked again as read from that
 * handle, and exactly those bytes written, so a file swapped or rewritten since the first check is
 * refused or copied as checked, never read through a new link. Plain files, no links into the output folder.
 */
export async function copyReferencedFiles(data: SiteData, distDir: string): Promise<{ files: number; bytes: number }> {
  let bytes = 0;
  await publishedFiles(data);
  const checks = await publishChecks(data);
  for (const { check, to } of checks) {
    const file = await readPublishable(check);
    const target = join(distDir, FILES_SEGMENT, ...to);
    await mkdir(dirname(target), { recursive: true });
    await writeFile(target, file.bytes);
    bytes += file.bytes.length;
  }
  return { files: checks.length, bytes };
}
