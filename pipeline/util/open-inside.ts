/**
 * Opens a file named by a path read from a folder this process did not write (a shard's records),
 * without ever following a link: the name must pass paths.ts (a plain relative path inside the
 * folder); every component below the folder is lstat'ed (a link, or anything but a folder on the way
 * and a regular file at the end, is refused); the file is then opened by open-file.ts (O_NOFOLLOW,
 * O_NONBLOCK, the kernel's own path of the open file read back), and that path must be the one asked
 * for and the inode the one lstat saw, which also catches a folder swapped for a link between the
 * walk and the open. What it returns names the inode that was verified, so that a later link or copy
 * takes that inode and no other (fs.ts placeVerifiedFile).
 */
import type { Stats } from 'node:fs';
import { lstat, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { openWithoutLinks, type OpenedFile } from './open-file.js';
import { insideFolder, isPlainRelativePath } from './paths.js';

/** The inode that was verified. */
export interface FileIdentity {
  dev: number;
  ino: number;
  size: number;
}

export type Opened =
  | { kind: 'file'; handle: FileHandle; identity: FileIdentity }
  | { kind: 'missing' }
  /** A link, a special file or a path that leaves the folder: never something a build writes. */
  | { kind: 'refused'; why: string };

const code = (error: unknown) => (error as NodeJS.ErrnoException).code;

async function lstatOrMissing(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (error) {
    if (code(error) === 'ENOENT' || code(error) === 'ENOTDIR') return undefined;
    throw error;
  }
}

function kindOf(info: Stats): string {
  if (info.isSymbolicLink()) return 'a link';
  if (info.isDirectory()) return 'a folder';
  if (info.isFile()) return 'a regular file';
  return 'a special file (a FIFO, socket or device)';
}

export function sameInode(a: FileIdentity, b: FileIdentity): boolean {
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Opens `relative` inside `root` as described above. `root` must be a real path (realpath): it is
 * what the open file's path is compared with. The caller closes the handle.
 */
export async function openInside(root: string, relative: string): Promise<Opened> {
  if (!isPlainRelativePath(relative) || insideFolder(root, relative) === undefined) return { kind: 'refused', why: 'a path that is not a plain relative path inside the folder' };
  const segments = relative.split('/');
  for (let i = 1; i < segments.length; i++) {
    const info = await lstatOrMissing(join(root, ...segments.slice(0, i)));
    if (info === undefined) return { kind: 'missing' };
    if (!info.isDirectory()) return { kind: 'refused', why: `${segments.slice(0, i).join('/')} is ${kindOf(info)}, not a folder` };
  }
  const path = join(root, relative);
  const seen = await lstatOrMissing(path);
  if (seen === undefined) return { kind: 'missing' };
  if (!seen.isFile()) return { kind: 'refused', why: `${kindOf(seen)}, not a regular file` };
  let file: OpenedFile;
  try {
    file = await openWithoutLinks(path);
  } catch (error) {
    if (code(error) === 'ENOENT') return { kind: 'missing' };
    if (code(error) === 'ELOOP') return { kind: 'refused', why: 'a link, not a regular file' };
    throw error;
  }
  const identity = { dev: file.stats.dev, ino: file.stats.ino, size: file.stats.size };
  if (!file.stats.isFile() || !sameInode(identity, seen)) return await refuse(file.handle, 'replaced while it was opened');
  if (file.opened !== path) return await refuse(file.handle, `opened as ${file.opened ?? 'a path that cannot be told'} (a folder on its way was replaced by a link)`);
  return { kind: 'file', handle: file.handle, identity };
}

async function refuse(handle: FileHandle, why: string): Promise<Opened> {
  await handle.close();
  return { kind: 'refused', why };
}

/** The whole file behind an open handle, read from its start (the handle's position is not used). */
export async function readAll(handle: FileHandle, size: number): Promise<Buffer> {
  const data = Buffer.alloc(size);
  let done = 0;
  while (done < size) {
    const { bytesRead } = await handle.read(data, done, size - done, done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done === size ? data : data.subarray(0, done);
}
