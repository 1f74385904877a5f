/**
 * Atomic writes reach the disk before their rename, a batch's records reach it after every file they
 * name and those files' folders, file-system failures a user can act on read as user errors naming
 * the folder, and the temporary files of killed runs are removed (a live run's kept).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs/promises';
import { mkdir, mkdtemp, readdir, readFile, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { AtlasStore } from '../../pipeline/atlas/store.js';
import { FilterAtlasError } from '../../pipeline/errors.js';
import { writeFileAtomic } from '../../pipeline/util/fs.js';
import { fileSystemError } from '../../pipeline/util/fs-errors.js';
import { removeLitter } from '../../pipeline/util/litter.js';

/** What writeFileAtomic does to the disk, in order (the real calls still happen). */
const journal: string[] = [];
/** The same with the paths: `sync <path>`, `rename <to>` (temporary names aside). */
const events: string[] = [];

vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: async (...args: Parameters<typeof real.open>) => {
      const handle = await real.open(...args);
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        journal.push('sync');
        events.push(`sync ${String(args[0])}`);
        return sync();
      };
      return handle;
    },
    rename: async (...args: Parameters<typeof real.rename>) => {
      journal.push('rename');
      events.push(`rename ${String(args[1])}`);
      return real.rename(...args);
    },
  };
});

function errno(code: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: failed, write`), { code, syscall: 'write' });
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'filter-atlas-fs-'));
  journal.length = 0;
  events.length = 0;
});

describe('writeFileAtomic', () => {
  it('flushes the data to the disk before the rename makes it visible', async () => {
    await writeFileAtomic(join(dir, 'a', 'b.json'), '{"x":1}');
    expect(journal).toEqual(['sync', 'rename']);
    expect(await readFile(join(dir, 'a', 'b.json'), 'utf8')).toBe('{"x":1}');
    expect(await readdir(join(dir, 'a'))).toEqual(['b.json']);
  });

  it('turns a full disk into a user error naming the folder, and leaves no temporary file', async () => {
    const spy = vi.spyOn(fs, 'open');
    // Only the temporary file's open fails; writeFileAtomic gets it through the (mocked) module.
    spy.mockRejectedValueOnce(errno('ENOSPC'));
    const error = await writeFileAtomic(join(dir, 'c.png'), 'x').catch((e: unknown) => e);
    spy.mockRestore();
    expect(error).toBeInstanceOf(FilterAtlasError);
    expect((error as Error).message).toBe(
      `folder ${dir}: expected free disk space to write files, received no space left on the device (ENOSPC). ` +
        'Free some space, or write somewhere else (another output folder or FILTER_ATLAS_CACHE), then rerun the same command: finished work is kept and the run resumes.',
    );
    expect(await readdir(dir)).toEqual([]);
  });
});

describe('AtlasStore.batch', () => {
  it("flushes a batch's files together, then their folders, and only then writes and flushes its records, in order", async () => {
    const store = new AtlasStore(dir);
    const batch = store.batch();
    await batch.writeFile('files/viz-1/viz.png', 'png');
    await batch.writeFile('files/web-1/full.webp', 'webp');
    // Written and renamed, not flushed one by one.
    expect(events.map((e) => e.replace(dir, ''))).toEqual(['rename /files/viz-1/viz.png', 'rename /files/web-1/full.webp']);
    expect(await readdir(dir)).toEqual(['files']);
    events.length = 0;
    await batch.commit([{ key: 'web-1', record: { w: 1 } }, { key: 'viz-1', record: { v: 1 } }]);
    const seen = events.map((e) => e.replace(dir, '') || e);
    expect(seen.slice(0, 2).sort()).toEqual(['sync /files/viz-1/viz.png', 'sync /files/web-1/full.webp']);
    expect(seen.slice(2, 6).sort()).toEqual(['sync ', 'sync /files', 'sync /files/viz-1', 'sync /files/web-1']);
    expect(seen.slice(6, 8)).toEqual(['rename /records/web-1.json', 'rename /records/viz-1.json']);
    expect(seen.slice(8).sort()).toEqual(['sync ', 'sync /records', 'sync /records/viz-1.json', 'sync /records/web-1.json']);
    expect(JSON.parse(await readFile(join(dir, 'records', 'viz-1.json'), 'utf8'))).toEqual({ v: 1 });
  });

  it('writes no record when a file of its batch cannot be flushed, and says why as a user error', async () => {
    const store = new AtlasStore(dir);
    const batch = store.batch();
    await batch.writeFile('files/viz-2/viz.png', 'png');
    const spy = vi.spyOn(fs, 'open');
    spy.mockRejectedValueOnce(errno('ENOSPC'));
    const error = await batch.commit([{ key: 'viz-2', record: {} }]).catch((e: unknown) => e);
    spy.mockRestore();
    expect(error).toBeInstanceOf(FilterAtlasError);
    expect((error as Error).message).toContain('no space left on the device (ENOSPC)');
    expect(await readdir(dir)).toEqual(['files']);
  });
});

describe('fileSystemError', () => {
  it('names a read-only or forbidden folder, and leaves other errors alone', async () => {
    expect(((await fileSystemError(errno('EROFS'), join(dir, 'x.json'))) as Error).message).toBe(
      `folder ${dir}: expected a writable folder, received a read-only file system (EROFS). ` +
        'Make it writable, or write somewhere else (another output folder or FILTER_ATLAS_CACHE), then rerun the same command: finished work is kept and the run resumes.',
    );
    expect(((await fileSystemError(errno('EACCES'), join(dir, 'x.json'))) as Error).message).toContain('received permission denied (EACCES)');
    const other = errno('EIO');
    expect(await fileSystemError(other, join(dir, 'x.json'))).toBe(other);
    // ENOENT while the nearest existing folder is writable: a race, not the user's problem.
    const missing = errno('ENOENT');
    expect(await fileSystemError(missing, join(dir, 'gone', 'x.json'))).toBe(missing);
  });
});

describe('removeLitter', () => {
  it("removes temporary files of processes that are gone or a day old, and keeps a live process's", async () => {
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    await mkdir(join(dir, 'records'), { recursive: true });
    const names = {
      killed: `records/viz-1.json.${dead}.0123abcd.tmp`,
      live: `atlas.json.${process.pid}.89abcdef.tmp`,
      old: `records/viz-2.json.${process.pid}.fedcba98.tmp`,
      record: 'records/viz-3.json',
      lookalike: 'notes.tmp',
    };
    for (const name of Object.values(names)) await writeFile(join(dir, name), 'x');
    const twoDaysAgo = (Date.now() - 48 * 3600 * 1000) / 1000;
    await utimes(join(dir, names.old), twoDaysAgo, twoDaysAgo);
    expect(await removeLitter(dir)).toBe(2);
    const left = (await readdir(dir, { recursive: true })).filter((n) => n.includes('.')).sort();
    expect(left).toEqual([names.live, 'notes.tmp', names.record].sort());
  });

  it('never fails on a folder it cannot read', async () => {
    expect(await removeLitter(join(dir, 'does-not-exist'))).toBe(0);
  });
});
