/**
 * Temporary files a killed process left behind. writeFileAtomic and the asset downloads name them
 * `<name>.<pid>.<8 hex>.<tmp|partial>`; one is litter when its process is gone, or, whatever the
 * process id says (it may be reused, or belong to another machine sharing the folder), when it is
 * older than a day. A live process's files are never touched, so two runs can share a folder.
 * Limit: a process of another PID namespace (another container writing into the same folder) looks
 * gone from here, so share an output folder between containers only when neither is running.
 */
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';

const TEMPORARY = /\.(\d+)\.[0-9a-f]{8}\.(?:tmp|partial)$/;
const DAY_MS = 24 * 3600 * 1000;

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** True when `name` is a temporary file whose writer is gone or which is older than a day. */
export function isLitter(name: string, mtimeMs: number, now: number): boolean {
  const match = TEMPORARY.exec(name);
  if (!match) return false;
  return now - mtimeMs > DAY_MS || !processAlive(Number(match[1]));
}

/**
 * Removes litter under `root` (recursively); returns how many files went. Never fails: a folder
 * that cannot be read or written (read-only storage) simply keeps its litter.
 */
export async function removeLitter(root: string, now = Date.now()): Promise<number> {
  let entries;
  try {
    entries = await readdir(root, { withFileTypes: true, recursive: true });
  } catch {
    return 0;
  }
  let removed = 0;
  for (const entry of entries) {
    if (!entry.isFile() || !TEMPORARY.test(entry.name)) continue;
    // parentPath arrived in Node 20.12; 20.9-20.11 call it path.
    const path = join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name);
    const info = await stat(path).catch(() => undefined);
    if (!info || !isLitter(entry.name, info.mtimeMs, now)) continue;
    if (await rm(path, { force: true }).then(() => true, () => false)) removed += 1;
  }
  return removed;
}
