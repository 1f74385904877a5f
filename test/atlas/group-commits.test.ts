/**
 * GroupCommits (pipeline/atlas/store.ts): records added one by one are written after their files, in
 * group commits, all durable at `flush`; a failed commit is thrown by `flush` and by the next `add`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AtlasStore, GroupCommits } from '../../pipeline/atlas/store.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'group-commits-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('GroupCommits', () => {
  it('writes every record added, after its files, in fewer commits than records', async () => {
    const store = new AtlasStore(dir);
    const sizes: number[] = [];
    const commits = new GroupCommits(store, (count) => sizes.push(count));
    await Promise.all(
      Array.from({ length: 12 }, async (_, i) => {
        await commits.writeFile(`files/k${i}/a.bin`, new Uint8Array([i]));
        commits.add(`k${i}`, { i, file: `files/k${i}/a.bin` });
      }),
    );
    await commits.flush();
    for (let i = 0; i < 12; i++) {
      expect(JSON.parse(await readFile(join(dir, `records/k${i}.json`), 'utf8'))).toEqual({ i, file: `files/k${i}/a.bin` });
      expect([...(await readFile(join(dir, `files/k${i}/a.bin`)))]).toEqual([i]);
    }
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(12);
    expect(sizes.length).toBeLessThan(12);
  });

  it('throws a failed commit from flush and from the next add', async () => {
    const store = new AtlasStore(dir);
    // A file where the records folder should be: writing a record fails.
    await writeFile(join(dir, 'records'), 'not a folder');
    const commits = new GroupCommits(store);
    commits.add('k', { i: 1 });
    await expect(commits.flush()).rejects.toThrow(/records/);
    expect(() => commits.add('k2', { i: 2 })).toThrow(/records/);
  });
});
