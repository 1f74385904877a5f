import { readFile } from 'node:fs/promises';

/** The 1000 ILSVRC-2012 classes in the standard order (torchvision, Keras, TensorFlow.js models). */
export interface ImagenetClasses {
  wnids: string[];
  names: string[];
}

/** Read from data/ilsvrc2012-classes.tsv (wnid TAB synset words), shipped with the code. */
export async function loadImagenetClasses(): Promise<ImagenetClasses> {
  const text = await readFile(new URL('./data/ilsvrc2012-classes.tsv', import.meta.url), 'utf8');
  const rows = text.split('\n').filter((line) => line.trim() !== '').map((line) => line.split('\t'));
  if (rows.length !== 1000) throw new Error(`data/ilsvrc2012-classes.tsv: expected 1000 classes, found ${rows.length}`);
  return { wnids: rows.map((r) => r[0]), names: rows.map((r) => r[1]) };
}
