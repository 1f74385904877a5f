import { copyFile, link, mkdir, open, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileSystemError } from './fs-errors.js';

/** The suffix of writeFileAtomic's temporary files: `<name>.<pid>.<8 hex>.tmp` (see util/litter.ts). */
export const TEMPORARY_SUFFIX = '.tmp';

/**
 * Writes through a temporary file in the same folder, flushes it to the disk and renames it: readers
 * never see half a file, and after a power cut a name holds complete bytes (without the fsync, a
 * journaling file system may commit the rename before the data: an empty file under the final name).
 * The folder itself is not synced: a rename lost in a power cut only loses a file, and a record whose
 * files are missing is recomputed (AtlasStore). Disk full, read-only and permission failures become
 * user errors naming the folder.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (error) {
    throw await fileSystemError(error, path);
  }
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}${TEMPORARY_SUFFIX}`;
  try {
    const handle = await open(temporary, 'wx');
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw await fileSystemError(error, path);
  }
}

/**
 * Puts a copy of `source` at `path` atomically: a hard link when both are on one file system (no
 * bytes move: the files of an atlas are never changed in place, only replaced by rename, so sharing
 * an inode is safe), else a copy flushed to the disk; either way through a temporary name and a rename.
 */
export async function placeFileAtomic(source: string, path: string): Promise<void> {
  try {
    await mkdir(dirname(path), { recursive: true });
  } catch (error) {
    throw await fileSystemError(error, path);
  }
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString('hex')}${TEMPORARY_SUFFIX}`;
  try {
    try {
      await link(source, temporary);
    } catch {
      await copyFile(source, temporary);
      const handle = await open(temporary, 'r+');
      try {
        await handle.sync();
      } finally {
        await handle.close();
      }
    }
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true }).catch(() => undefined);
    throw await fileSystemError(error, path);
  }
}
