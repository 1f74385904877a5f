/**
 * The one rule for the name of every file derived from a name we do not control (a dataset file, a
 * layer of an imported model, a probe photo): a readable stem of file-system- and URL-safe characters,
 * plus a short hash of the original whenever the stem is not the original itself (characters replaced,
 * or cut to MAX_STEM characters), so two inputs never share a file and no name outgrows the file
 * system's limit (255 bytes on ext4, with room left for an extension and a temporary suffix such as
 * `.webp.30225.348c5d7b.tmp`). A short name of safe characters is its own file name, and a short name
 * with other characters is `<safe>-<hash>`: the names dataset thumbnails had before this module, so
 * records of existing atlases name the files they always did.
 */
import { createHash } from 'node:crypto';

/** Characters of the readable stem kept before the hash. */
export const MAX_STEM = 120;

/** The longest name `safeFileName` returns: the stem, a dash and 8 hex digits of the hash. */
export const MAX_SAFE_NAME = MAX_STEM + 9;

const UNSAFE = /[^A-Za-z0-9._-]/g;

/** 8 hex digits of the SHA-256 of the original name: enough to keep a folder's names apart. */
function shortHash(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 8);
}

/**
 * A file-name-safe, bounded, stable name for `name`: `name` itself when it is made of letters, digits,
 * ".", "_" and "-" only, is at most MAX_STEM characters and is not "." or ".." (or empty); otherwise its
 * first MAX_STEM characters with every other character replaced by "_", then "-" and a hash of `name`.
 */
export function safeFileName(name: string): string {
  const safe = name.replace(UNSAFE, '_');
  const plain = safe === name && name.length > 0 && name.length <= MAX_STEM && !/^\.+$/.test(name);
  return plain ? name : `${safe.slice(0, MAX_STEM)}-${shortHash(name)}`;
}
