/**
 * Lists the images of a dataset folder and their class labels: from the folder's `classes.tsv`
 * (index, wnid, name, synset_words; files named `<wnid>_<name>.JPEG`) when it has one, else from the
 * file names themselves (`n02087394_Rhodesian_ridgeback.JPEG` -> "Rhodesian ridgeback"), the layout
 * `classify --evaluate` reads too.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { userError } from '../errors.js';

export interface DatasetImage {
  /** Path relative to the dataset folder (the name atlas.json records). */
  file: string;
  /** Absolute path. */
  path: string;
  /** Human-readable class name ("Rhodesian ridgeback"), from classes.tsv or the file name. */
  label?: string;
  /** Class index in the dataset's own order (classes.tsv `index`: ILSVRC order for ImageNet). */
  classIndex?: number;
  /** WordNet id, to match a model's output classes (model.labelWnids). */
  wnid?: string;
}

export interface DatasetClass {
  index: number;
  wnid: string;
  name: string;
  synsetWords: string;
}

/** A listed name that is not a readable image file (a broken link, a folder named like an image). */
export interface SkippedFile {
  file: string;
  reason: string;
}

export interface Dataset {
  folder: string;
  images: DatasetImage[];
  classes?: DatasetClass[];
  /** Where the labels come from: classes.tsv, the `<wnid>_<name>` file names, or nowhere. */
  labelSource: 'classes.tsv' | 'file-names' | 'none';
  /** See datasetDigest. */
  digest: string;
  /** Names with an image extension that are not readable files; reported with the unreadable images. */
  skipped?: SkippedFile[];
}

const IMAGE_EXTENSION = /\.(jpe?g|png|webp)$/i;
const CLASSES_FILE = 'classes.tsv';

/** Image files of a folder (not recursive), sorted by name in code-point order so every machine agrees. */
export async function listImageFiles(folder: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    throw userError(
      { where: folder, expected: 'a readable dataset folder of JPEG, PNG or WebP images', received: (error as NodeJS.ErrnoException).code ?? String(error) },
      error,
    );
  }
  return entries
    .filter((entry) => (entry.isFile() || entry.isSymbolicLink()) && IMAGE_EXTENSION.test(entry.name))
    .map((entry) => entry.name)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Parses classes.tsv; the header row is required so a column mix-up fails loudly. */
export function parseClasses(text: string, where: string): DatasetClass[] {
  const lines = text.split(/\r?\n/).filter((line) => line.trim() !== '');
  const header = lines.shift()?.split('\t').map((cell) => cell.trim());
  const expectedHeader = ['index', 'wnid', 'name', 'synset_words'];
  if (!header || expectedHeader.some((column, i) => header[i] !== column)) {
    throw userError({
      where,
      expected: `a tab-separated header "${expectedHeader.join('\\t')}"`,
      received: header ? JSON.stringify(header.join('\t')) : 'an empty file',
      fix: 'Write one class per line after the header: index, WordNet id, name, synset words.',
    });
  }
  return lines.map((line, row) => {
    const [index, wnid, name, synsetWords] = line.split('\t');
    const parsed = Number(index);
    if (!Number.isInteger(parsed) || !wnid || !name) {
      throw userError({ where: `${where} line ${row + 2}`, expected: 'index<TAB>wnid<TAB>name<TAB>synset words', received: JSON.stringify(line) });
    }
    return { index: parsed, wnid, name, synsetWords: synsetWords ?? name };
  });
}

/** `<wnid>_<anything>.<ext>` -> wnid; classes are matched by WordNet id, names repeat (two "crane" classes). */
function wnidOf(file: string): string | undefined {
  return /^(n\d{8})_/.exec(basename(file))?.[1];
}

/** Why a listed path cannot be read as a file, from the error of opening it. */
function unreadableReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ELOOP') return 'a symbolic link loop (ELOOP)';
  if (code === 'ENOENT') return 'a dangling symbolic link (ENOENT)';
  if (code === 'EISDIR') return 'a folder, not an image file (EISDIR)';
  return error instanceof Error ? error.message : String(error);
}

/** sha256 and size of a file's contents, or why it cannot be read. */
async function hashFile(path: string): Promise<{ sha256: string; size: number } | { reason: string }> {
  try {
    const info = await stat(path);
    if (!info.isFile()) return { reason: info.isDirectory() ? 'a folder, not an image file (EISDIR)' : 'not a regular file' };
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    return { sha256: hash.digest('hex'), size };
  } catch (error) {
    return { reason: unreadableReason(error) };
  }
}

/** `<wnid>_<name>.<ext>` -> "name" with spaces for underscores, or undefined. */
export function labelFromFileName(file: string): string | undefined {
  const name = /^n\d{8}_(.+)\.[A-Za-z]+$/.exec(basename(file))?.[1];
  return name?.replace(/_/g, ' ');
}

/**
 * Dataset digest: sha256 over one line per image, `<file>\t<size>\t<sha256 of contents>`, in list order,
 * plus the classes.tsv contents when present. Contents (not only sizes) so that a replaced photo of
 * the same size still changes every cache key that depends on the dataset; 1000 ImageNet photos
 * (110 MB) hash in well under a second. Names that cannot be read as files (a link loop, a dangling
 * link, a folder named `x.jpg`) are left out of the images and returned as skipped, like unreadable photos.
 */
export async function hashDataset(images: readonly DatasetImage[], classesText?: string): Promise<{ digest: string; images: DatasetImage[]; skipped: SkippedFile[] }> {
  const outer = createHash('sha256');
  const readable: DatasetImage[] = [];
  const skipped: SkippedFile[] = [];
  for (const image of images) {
    const hashed = await hashFile(image.path);
    if ('reason' in hashed) {
      skipped.push({ file: image.file, reason: hashed.reason });
      continue;
    }
    readable.push(image);
    outer.update(`${image.file}\t${hashed.size}\t${hashed.sha256}\n`);
  }
  if (classesText !== undefined) outer.update(`${CLASSES_FILE}\n${classesText}`);
  return { digest: outer.digest('hex'), images: readable, skipped };
}

/** Lists a dataset folder: images (sorted), labels from classes.tsv when present, and the digest. */
export async function listDataset(folder: string): Promise<Dataset> {
  const root = resolve(folder);
  const files = await listImageFiles(root);
  if (files.length === 0) {
    throw userError({ where: root, expected: 'a folder with at least one .jpg, .jpeg, .png or .webp image', received: 'none', fix: 'Point the dataset setting at a folder of photos.' });
  }
  let classesText: string | undefined;
  try {
    classesText = await readFile(join(root, CLASSES_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  const classes = classesText === undefined ? undefined : parseClasses(classesText, join(root, CLASSES_FILE));
  const byWnid = new Map(classes?.map((c) => [c.wnid, c]));
  const images = files.map((file): DatasetImage => {
    const image: DatasetImage = { file, path: join(root, file) };
    const wnid = wnidOf(file);
    // The file-name wnid alone is enough to match model classes (model.labelWnids).
    if (wnid !== undefined) image.wnid = wnid;
    if (classes) {
      const match = wnid === undefined ? undefined : byWnid.get(wnid);
      if (match) {
        image.classIndex = match.index;
        image.label = match.name.replace(/_/g, ' ');
      }
    } else {
      const label = labelFromFileName(file);
      if (label !== undefined) image.label = label;
    }
    return image;
  });
  const hashed = await hashDataset(images, classesText);
  if (hashed.images.length === 0) {
    throw userError({
      where: root,
      expected: 'at least one readable .jpg, .jpeg, .png or .webp image',
      received: hashed.skipped.slice(0, 3).map((s) => `${s.file}: ${s.reason}`).join('; '),
      fix: 'Point the dataset setting at a folder of photos.',
    });
  }
  const labelSource = classes ? 'classes.tsv' : hashed.images.some((image) => image.label !== undefined) ? 'file-names' : 'none';
  return { folder: root, images: hashed.images, classes, labelSource, digest: hashed.digest, ...(hashed.skipped.length > 0 ? { skipped: hashed.skipped } : {}) };
}
