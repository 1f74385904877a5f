/**
 * Opening a file that data names (atlas.json, diff.json, a record) exactly once, so that what is
 * checked is what is used: the file is opened by its real path without following a link there
 * (O_NOFOLLOW), without blocking on a FIFO (O_NONBLOCK), and the path it was opened at is read back
 * from the kernel. A folder or file swapped for a link between the caller's check of the path and
 * the open is then seen, and everything after (stat, content checks, copies) reads the one handle.
 */
import { constants, type Stats } from 'node:fs';
import { open, readlink, realpath, stat, type FileHandle } from 'node:fs/promises';

export interface OpenedFile {
  handle: FileHandle;
  /** Where the handle's file is: the kernel's answer, or undefined when it cannot be told (the path changed). */
  opened: string | undefined;
  stats: Stats;
}

/** Read only, never through a link in the last component, never waiting for a FIFO's writer. */
const FLAGS = constants.O_RDONLY | (constants.O_NOFOLLOW ?? 0) | (constants.O_NONBLOCK ?? 0);

/**
 * Opens `real` (a path whose links the caller resolved and checked) read only without following a
 * link. Errors of open(2) are thrown as they come: ELOOP when the file became a link after the
 * check, ENXIO for a socket. The caller closes the handle.
 */
export async function openWithoutLinks(real: string): Promise<OpenedFile> {
  const handle = await open(real, FLAGS);
  try {
    return { handle, opened: await openedPath(handle, real), stats: await handle.stat() };
  } catch (error) {
    await handle.close();
    throw error;
  }
}

/**
 * The path of the file a handle holds: /proc/self/fd on Linux; elsewhere `path`'s real path when
 * it still names the handle's file (same device and inode), else undefined.
 */
async function openedPath(handle: FileHandle, path: string): Promise<string | undefined> {
  try {
    return await readlink(`/proc/self/fd/${handle.fd}`);
  } catch {
    const [now, held, named] = await Promise.all([realpath(path), handle.stat(), stat(path)]).catch(() => []);
    return now !== undefined && held?.dev === named?.dev && held?.ino === named?.ino ? now : undefined;
  }
}
