/**
 * The one answer to "does this path stay inside that folder?", for every place that takes a path
 * from a file it did not write itself (atlas.json, diff.json, shard manifests and records).
 */
import { isAbsolute, relative, resolve, sep } from 'node:path';

/**
 * The path of `path` relative to `root`, with forward slashes, when `path` (resolved against `root`
 * when relative) lies strictly inside `root`; undefined when it is the folder itself, outside it, or
 * on another drive. Names only: links are the caller's business (see pipeline/atlas/merge.ts and
 * site/src/lib/files.ts for the checks that open files without following them).
 */
export function insideFolder(root: string, path: string): string | undefined {
  const within = relative(resolve(root), resolve(root, path));
  if (within === '' || within === '..' || within.startsWith(`..${sep}`) || isAbsolute(within)) return undefined;
  return within.split(sep).join('/');
}

/**
 * True when `path` is a relative path whose every segment is a plain name: no `..`, no `.`, no empty
 * segment, no backslash, no NUL. What an atlas may write into a record or a manifest.
 */
export function isPlainRelativePath(path: string): boolean {
  if (path === '' || isAbsolute(path) || path.includes('\\') || path.includes('\0')) return false;
  return path.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..');
}
