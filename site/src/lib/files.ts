/**
 * The atlas files the pages show, and copying exactly those into dist/ (plain copies: a
 * published site must not depend on symlinks into the output folder). Pages and the copy use
 * the same list, so dist/ holds no file a page does not reference.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { userError } from '../../../pipeline/errors.js';
import type { Atlas } from '../../../pipeline/atlas/schema.js';
import type { SiteAtlas, SiteData } from './load.js';
import { FILES_SEGMENT } from './urls.js';

/** Every atlas-relative file a page references: visualisations, thumbnails, crops, probe photos and charts. */
export function referencedFiles(atlas: Atlas): string[] {
  const files = new Set<string>();
  for (const layer of atlas.layers) {
    for (const filter of layer.filters) {
      if (filter.image) files.add(filter.image);
      if (filter.thumb) files.add(filter.thumb);
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
  return [...files].sort();
}

/** Absolute path of an atlas file; a path that leaves the atlas folder is an error, never read. */
export function atlasFilePath(site: SiteAtlas, file: string): string {
  const root = resolve(site.dir);
  const path = resolve(root, file);
  const inside = relative(root, path);
  if (isAbsolute(file) || inside === '' || inside.startsWith('..') || isAbsolute(inside)) {
    throw userError({
      where: `${join(site.dir, 'atlas.json')}`,
      expected: 'file paths relative to the atlas folder, inside it',
      received: JSON.stringify(file),
      fix: 'Rebuild the atlas with `filter-atlas build`; do not edit atlas.json by hand.',
    });
  }
  return path;
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

/** Destination of an atlas file in dist/ (mirrors urls.file without the URL encoding). */
export function distFilePath(distDir: string, site: SiteAtlas, file: string): string {
  const inside = relative(resolve(site.dir), atlasFilePath(site, file));
  return join(distDir, FILES_SEGMENT, site.slug, ...inside.split(sep));
}

/** Copies every referenced file of every atlas; a missing file names the atlas and the path. */
export async function copyReferencedFiles(data: SiteData, distDir: string): Promise<{ files: number; bytes: number }> {
  let files = 0;
  let bytes = 0;
  for (const site of data.atlases) {
    for (const file of referencedFiles(site.atlas)) {
      const from = atlasFilePath(site, file);
      const to = distFilePath(distDir, site, file);
      const info = await stat(from).catch(() => undefined);
      if (!info?.isFile()) throw missingFileError(site, file);
      await mkdir(dirname(to), { recursive: true });
      await copyFile(from, to);
      files += 1;
      bytes += info.size;
    }
  }
  return { files, bytes };
}
