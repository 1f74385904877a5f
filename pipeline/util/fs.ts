import { copyFile, link, lstat, mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileSystemError } from './fs-errors.js';
import { readAll, sameInode, type FileIdentity } from './open-inside.js';

/** The suffix of writeFileAtomic's temporary files: `<name>.<pid>.<8 hex>.tmp` (see util/litter.ts). */
export const TEMPORARY_SUFFIX = '.tmp';

/**
 * Fills a temporary file next to `path` and renames it onto `path`; on failure the temporary file
 * goes and the error becomes a user error naming the folder. The folder is created first.
 */
async function throughTemporary(path: string, fill: (temporary: string) => Promise<void>): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (error) {
    throw await fileSystemError(error, path);
  }
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}${TEMPORARY_SUFFIX}`;
  try {
    await fill(temporary);
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw await fileSystemError(error, path);
  }
}

/** Flushes a file's bytes to the disk. */
async function syncFile(file: string, flags: 'wx' | 'r+', data?: string | Uint8Array): Promise<void> {
  const handle = await open(file, flags);
  try {
    if (data !== undefined) await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Writes through a temporary file in the same folder, flushes it to the disk and renames it: readers
 * never see half a file, and after a power cut a name holds complete bytes (without the fsync, a
 * journaling file system may commit the rename before the data: an empty file under the final name).
 * The folder itself is not synced: a rename lost in a power cut only loses a file, and a record whose
 * files are missing is recomputed (AtlasStore). Disk full, read-only and permission failures become
 * user errors naming the folder.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  await throughTemporary(path, (temporary) => syncFile(temporary, 'wx', data));
}

/**
 * writeFileAtomic without its fsync, for writers that make a whole batch durable at once
 * (flushToDisk): readers still never see half a file, but after a power cut the name may hold
 * nothing until the batch's flushToDisk has run. Disk full and similar failures become user errors.
 */
export async function writeFileRenamed(path: string, data: string | Uint8Array): Promise<void> {
  await throughTemporary(path, async (temporary) => {
    const handle = await open(temporary, 'wx');
    try {
      await handle.writeFile(data);
    } finally {
      await handle.close();
    }
  });
}

/**
 * Flushes files or folders (a folder's flush makes the renames and new entries in it durable) to the
 * disk, all at once: the file system joins concurrent flushes into few journal commits, where one
 * flush per write waits for a commit each.
 */
export async function flushToDisk(paths: Iterable<string>): Promise<void> {
  const flush = async (path: string) => {
    try {
      const handle = await open(path, 'r');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw await fileSystemError(error, path);
    }
  };
  await Promise.all([...new Set(paths)].map(flush));
}

/**
 * Puts a copy of `source` at `path` atomically: a hard link when both are on one file system (no
 * bytes move: the files of an atlas are never changed in place, only replaced by rename, so sharing
 * an inode is safe), else a copy flushed to the disk; either way through a temporary name and a rename.
 */
export async function placeFileAtomic(source: string, path: string): Promise<void> {
  await throughTemporary(path, async (temporary) => {
    try {
      await link(source, temporary);
    } catch {
      await copyFile(source, temporary);
      await syncFile(temporary, 'r+');
    }
  });
}

/**
 * A copy of `source`'s bytes at `path` (never a hard link: the source may later be overwritten in
 * place, as a re-exported model is), flushed and renamed into place; `check(temporary)` runs on the
 * copy before the rename, and a check that throws leaves `path` as it was.
 */
export async function copyFileAtomic(source: string, path: string, check?: (temporary: string) => Promise<void>): Promise<void> {
  await throughTemporary(path, async (temporary) => {
    await copyFile(source, temporary);
    await syncFile(temporary, 'r+');
    await check?.(temporary);
  });
}

/**
 * placeFileAtomic for a file opened by open-inside.ts from a folder this process did not write: the
 * hard link is kept only when it names the inode that was verified (`identity`; a name swapped in
 * between would link something else), else the bytes are copied from the verified open handle.
 */
export async function placeVerifiedFile(source: string, opened: { handle: FileHandle; identity: FileIdentity }, path: string): Promise<void> {
  await throughTemporary(path, async (temporary) => {
    const linked = await link(source, temporary).then(() => true, () => false);
    if (linked) {
      const info = await lstat(temporary);
      if (info.isFile() && sameInode(info, opened.identity)) return;
      await rm(temporary, { force: true });
    }
    await syncFile(temporary, 'wx', await readAll(opened.handle, opened.identity.size));
  });
}
