/**
 * A few published asset files are not byte copies of one upstream file but are made from one
 * (SOURCES.md): darknet's label lists are the first 1000 lines of its longer lists, and the
 * dataset's classes.tsv joins the ILSVRC synset words (one per line, standard order) with the
 * wnid and name taken from the sorted photo file names. Each derivation is a stream transform
 * applied to the upstream bytes; the sha256 is checked on the result, like any other file.
 * Mirrors hold the derived files, so nothing is derived when reading from a mirror.
 */
import { Transform, type TransformCallback } from 'node:stream';
import type { AssetFile, AssetManifest } from './manifest.js';

/** Keeps the first `lines` lines (with their newlines) and drops the rest of the stream. */
class FirstLines extends Transform {
  private remaining: number;
  constructor(lines: number) {
    super();
    this.remaining = lines;
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.remaining <= 0) return callback();
    let end = 0;
    while (this.remaining > 0) {
      const newline = chunk.indexOf(0x0a, end);
      if (newline < 0) {
        end = chunk.length;
        break;
      }
      end = newline + 1;
      this.remaining -= 1;
    }
    callback(null, chunk.subarray(0, end));
  }
}

/** Photo files named `<wnid>_<name>.<ext>`, in wnid order (the standard ILSVRC class order). */
export function classPhotos(manifest: AssetManifest): Array<{ wnid: string; name: string }> {
  return manifest.files
    .map((file) => /^(n\d{8})_(.+)\.[A-Za-z]+$/.exec(file.path))
    .filter((match): match is RegExpExecArray => match !== null)
    .map((match) => ({ wnid: match[1] as string, name: match[2] as string }))
    .sort((a, b) => (a.wnid < b.wnid ? -1 : a.wnid > b.wnid ? 1 : 0));
}

/** Reads the whole (small) synset-words list, then writes `index, wnid, name, synset_words` rows. */
class ImagenetClassesTable extends Transform {
  private readonly chunks: Buffer[] = [];
  constructor(private readonly photos: Array<{ wnid: string; name: string }>) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.chunks.push(chunk);
    callback();
  }
  override _flush(callback: TransformCallback): void {
    const words = Buffer.concat(this.chunks).toString('utf8').split('\n');
    if (words.at(-1) === '') words.pop();
    // A different line count means a different list: emit nothing usable and let the hash say so.
    const rows = words.map((line, index) => `${index}\t${this.photos[index]?.wnid ?? '?'}\t${this.photos[index]?.name ?? '?'}\t${line}\n`);
    callback(null, Buffer.from(`index\twnid\tname\tsynset_words\n${rows.join('')}`, 'utf8'));
  }
}

/** The transform turning the upstream bytes of `file` into the published file, if it needs one. */
export function derivation(manifest: AssetManifest, file: AssetFile): Transform | undefined {
  if (file.firstLines !== undefined) return new FirstLines(file.firstLines);
  if (file.derive === 'imagenet-classes-tsv') return new ImagenetClassesTable(classPhotos(manifest));
  return undefined;
}
