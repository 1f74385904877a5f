/**
 * File-system failures a user can act on (disk full, read-only or forbidden folders) as user errors
 * that name the folder and say what to do, instead of a stack trace that reads as a bug.
 */
import { access, constants } from 'node:fs/promises';
import { dirname } from 'node:path';
import { userError } from '../errors.js';

const FULL = new Set(['ENOSPC', 'EDQUOT']);
const NOT_WRITABLE: Record<string, string> = {
  EROFS: 'a read-only file system (EROFS)',
  EACCES: 'permission denied (EACCES)',
  EPERM: 'permission denied (EPERM)',
};

const RESUME = 'then rerun the same command: finished work is kept and the run resumes';

function codeOf(error: unknown): string | undefined {
  return (error as NodeJS.ErrnoException | undefined)?.code;
}

/** The closest folder above `path` that exists (mkdir -p reports a folder it cannot create as ENOENT on some systems). */
async function nearestExisting(path: string): Promise<string> {
  let folder = dirname(path);
  for (;;) {
    try {
      await access(folder);
      return folder;
    } catch {
      const parent = dirname(folder);
      if (parent === folder) return folder;
      folder = parent;
    }
  }
}

/**
 * `error` from writing `path`, as a user error when the cause is the disk or the folder's
 * permissions; any other error is returned unchanged (it is a bug or a race, and keeps its stack).
 */
export async function fileSystemError(error: unknown, path: string): Promise<unknown> {
  const code = codeOf(error);
  if (code !== undefined && FULL.has(code)) {
    return userError(
      {
        where: `folder ${dirname(path)}`,
        expected: 'free disk space to write files',
        received: `no space left on the device (${code})`,
        fix: `Free some space, or write somewhere else (another output folder or FILTER_ATLAS_CACHE), ${RESUME}.`,
      },
      error,
    );
  }
  let folder = dirname(path);
  let reason = code === undefined ? undefined : NOT_WRITABLE[code];
  if (code === 'ENOENT') {
    folder = await nearestExisting(path);
    const denied = await access(folder, constants.W_OK).then(
      () => undefined,
      (cause: unknown) => codeOf(cause),
    );
    reason = denied === undefined ? undefined : (NOT_WRITABLE[denied] ?? denied);
  }
  if (reason === undefined) return error;
  return userError(
    {
      where: `folder ${folder}`,
      expected: 'a writable folder',
      received: reason,
      fix: `Make it writable, or write somewhere else (another output folder or FILTER_ATLAS_CACHE), ${RESUME}.`,
    },
    error,
  );
}
