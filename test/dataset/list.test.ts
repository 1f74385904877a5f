import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listDataset } from '../../pipeline/dataset/list.js';

let folder: string;
beforeEach(async () => {
  folder = await mkdtemp(join(tmpdir(), 'fa-list-'));
});
afterEach(() => rm(folder, { recursive: true, force: true }));

const CLASSES = 'index\twnid\tname\tsynset_words\n0\tn01440764\ttench\ttench, Tinca tinca\n1\tn02087394\tRhodesian_ridgeback\tRhodesian ridgeback\n';

describe('listDataset', () => {
  it('lists jpg/jpeg/png/webp in any case, sorted, ignoring other files and sub-folders', async () => {
    for (const name of ['b.JPG', 'a.jpeg', 'C.PNG', 'd.webp', 'e.Jpeg', 'notes.txt', 'f.gif', 'classes.tsv.bak']) await writeFile(join(folder, name), name);
    await mkdir(join(folder, 'sub.jpg'));
    const dataset = await listDataset(folder);
    expect(dataset.images.map((i) => i.file)).toEqual(['C.PNG', 'a.jpeg', 'b.JPG', 'd.webp', 'e.Jpeg']);
    expect(dataset.images[0].path).toBe(join(folder, 'C.PNG'));
    expect(dataset.classes).toBeUndefined();
    expect(dataset.labelSource).toBe('none');
  });

  it('labels <wnid>_<name> files from classes.tsv', async () => {
    await writeFile(join(folder, 'classes.tsv'), CLASSES);
    for (const name of ['n01440764_tench.JPEG', 'n02087394_Rhodesian_ridgeback.JPEG', 'n09999999_unknown.JPEG', 'photo.jpg']) await writeFile(join(folder, name), name);
    const { images, classes } = await listDataset(folder);
    expect(classes).toHaveLength(2);
    expect(images).toEqual([
      { file: 'n01440764_tench.JPEG', path: join(folder, 'n01440764_tench.JPEG'), wnid: 'n01440764', classIndex: 0, label: 'tench' },
      { file: 'n02087394_Rhodesian_ridgeback.JPEG', path: join(folder, 'n02087394_Rhodesian_ridgeback.JPEG'), wnid: 'n02087394', classIndex: 1, label: 'Rhodesian ridgeback' },
      { file: 'n09999999_unknown.JPEG', path: join(folder, 'n09999999_unknown.JPEG'), wnid: 'n09999999' },
      { file: 'photo.jpg', path: join(folder, 'photo.jpg') },
    ]);
  });

  it('labels <wnid>_<name> files from their names when there is no classes.tsv', async () => {
    for (const name of ['n01440764_tench.JPEG', 'n02087394_Rhodesian_ridgeback.JPEG', 'photo.jpg']) await writeFile(join(folder, name), name);
    const dataset = await listDataset(folder);
    expect(dataset.labelSource).toBe('file-names');
    expect(dataset.classes).toBeUndefined();
    expect(dataset.images).toEqual([
      { file: 'n01440764_tench.JPEG', path: join(folder, 'n01440764_tench.JPEG'), wnid: 'n01440764', label: 'tench' },
      { file: 'n02087394_Rhodesian_ridgeback.JPEG', path: join(folder, 'n02087394_Rhodesian_ridgeback.JPEG'), wnid: 'n02087394', label: 'Rhodesian ridgeback' },
      { file: 'photo.jpg', path: join(folder, 'photo.jpg') },
    ]);
  });

  it('digest depends on contents, not only on names and sizes', async () => {
    await writeFile(join(folder, 'a.png'), 'AAAA');
    const first = (await listDataset(folder)).digest;
    expect((await listDataset(folder)).digest).toBe(first);
    await writeFile(join(folder, 'a.png'), 'AAAB');
    const second = (await listDataset(folder)).digest;
    expect(second).not.toBe(first);
    await writeFile(join(folder, 'classes.tsv'), CLASSES);
    expect((await listDataset(folder)).digest).not.toBe(second);
    expect(first).toMatch(/^[0-9a-f]{64}$/);
  });

  it('skips and reports a symlink loop, a folder link named like an image and a dangling link, instead of failing', async () => {
    await writeFile(join(folder, 'good.png'), 'png bytes');
    await symlink('loop-b.jpg', join(folder, 'loop-a.jpg'));
    await symlink('loop-a.jpg', join(folder, 'loop-b.jpg'));
    await mkdir(join(folder, 'elsewhere'));
    await symlink(join(folder, 'elsewhere'), join(folder, 'x.webp'));
    await symlink(join(folder, 'gone.png'), join(folder, 'dangling.png'));
    await symlink(join(folder, 'good.png'), join(folder, 'link-to-good.png'));
    const dataset = await listDataset(folder);
    expect(dataset.images.map((i) => i.file)).toEqual(['good.png', 'link-to-good.png']);
    expect(dataset.skipped).toEqual([
      { file: 'dangling.png', reason: 'a dangling symbolic link (ENOENT)' },
      { file: 'loop-a.jpg', reason: 'a symbolic link loop (ELOOP)' },
      { file: 'loop-b.jpg', reason: 'a symbolic link loop (ELOOP)' },
      { file: 'x.webp', reason: 'a folder, not an image file (EISDIR)' },
    ]);
    // Only readable files make the digest: the same as a folder without the bad links.
    const clean = await mkdtemp(join(tmpdir(), 'fa-list-clean-'));
    await writeFile(join(clean, 'good.png'), 'png bytes');
    await writeFile(join(clean, 'link-to-good.png'), 'png bytes');
    expect((await listDataset(clean)).digest).toBe(dataset.digest);
    await rm(clean, { recursive: true });
  });

  it('rejects a bad classes.tsv header, a missing folder and a folder without images', async () => {
    await writeFile(join(folder, 'x.png'), 'x');
    await writeFile(join(folder, 'classes.tsv'), 'wnid\tindex\n');
    await expect(listDataset(folder)).rejects.toThrow(`${join(folder, 'classes.tsv')}: expected a tab-separated header "index\\twnid\\tname\\tsynset_words", received "wnid\\tindex"`);
    await expect(listDataset(join(folder, 'nope'))).rejects.toThrow(`${join(folder, 'nope')}: expected a readable dataset folder of JPEG, PNG or WebP images, received ENOENT`);
    const empty = join(folder, 'empty');
    await mkdir(empty);
    await expect(listDataset(empty)).rejects.toThrow(`${empty}: expected a folder with at least one .jpg, .jpeg, .png or .webp image, received none`);
  });
});
