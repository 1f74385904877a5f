/**
 * The version of the code that built a shard, for `merge` to refuse shards of different code: the
 * package version plus a digest of every file under pipeline/ and of package-lock.json (the exact
 * dependencies: sharp's encoder decides PNG bytes). Record keys already hold the version of each
 * stage's code (keys.ts CODE_VERSIONS), but only where someone remembered to bump it; shards of one
 * atlas are meant to be one build, so they must come from one checkout (or one container image).
 */
import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

const ROOT = join(import.meta.dirname, '../..');

async function filesUnder(root: string, folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  // Code-point order, not the locale's: every machine must hash the same sequence.
  return entries
    .filter((entry) => entry.isFile())
    .map((entry) => relative(root, join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name)).split('\\').join('/'))
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

export async function codeVersion(root = ROOT): Promise<string> {
  const pkg = JSON.parse(await readFile(join(root, 'package.json'), 'utf8')) as { version?: string };
  const hash = createHash('sha256');
  const files = [...(await filesUnder(root, join(root, 'pipeline'))), 'package-lock.json'];
  for (const file of files) {
    const bytes = await readFile(join(root, file)).catch(() => undefined);
    if (bytes === undefined) continue;
    hash.update(file).update('\0').update(String(bytes.length)).update('\0').update(bytes);
  }
  return `${pkg.version ?? '0.0.0'}+${hash.digest('hex').slice(0, 12)}`;
}
