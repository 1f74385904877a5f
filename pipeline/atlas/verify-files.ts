/**
 * Checks that a file a record names holds what its name says, from its first and last bytes: a
 * PNG from its signature to its IEND chunk, a WebP whose RIFF size is the file's, an SVG that
 * opens and closes its root, a float32 array of the expected length. Cheap enough for every file of
 * an atlas, and it catches what crosses machines badly: a file cut short by a transfer, an empty
 * one, an HTML error page saved under an image's name. Returns why a file is bad, or undefined.
 */
import { open, type FileHandle } from 'node:fs/promises';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
const PNG_END = Buffer.from([0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82]);
const EDGE = 64;

export interface VerifyOptions {
  /** Exact size in bytes, when the record implies one (a means file: images x channels x 4). */
  bytes?: number;
}

export async function fileProblem(path: string, options: VerifyOptions = {}): Promise<string | undefined> {
  let handle;
  try {
    handle = await open(path, 'r');
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing' : `unreadable (${(error as NodeJS.ErrnoException).code ?? String(error)})`;
  }
  try {
    return await openFileProblem(handle, path, options);
  } finally {
    await handle.close();
  }
}

/** fileProblem of a file already open (`name` gives its type by its extension); the handle stays open. */
export async function openFileProblem(handle: FileHandle, name: string, options: VerifyOptions = {}): Promise<string | undefined> {
  const info = await handle.stat();
  if (!info.isFile()) return 'not a regular file';
  const size = info.size;
  if (size === 0) return 'empty';
  if (options.bytes !== undefined && size !== options.bytes) return `${size} bytes, expected ${options.bytes}`;
  const head = Buffer.alloc(Math.min(EDGE, size));
  await handle.read(head, 0, head.length, 0);
  const tail = Buffer.alloc(Math.min(EDGE, size));
  await handle.read(tail, 0, tail.length, size - tail.length);
  const lower = name.toLowerCase();
  if (lower.endsWith('.png')) {
    if (!head.subarray(0, 8).equals(PNG_SIGNATURE)) return 'not a PNG (no PNG signature)';
    if (!tail.subarray(tail.length - PNG_END.length).equals(PNG_END)) return 'a PNG cut short (no IEND chunk at its end)';
  } else if (lower.endsWith('.webp')) {
    if (head.length < 12 || head.toString('latin1', 0, 4) !== 'RIFF' || head.toString('latin1', 8, 12) !== 'WEBP') return 'not a WebP (no RIFF/WEBP header)';
    const riff = head.readUInt32LE(4) + 8;
    // RIFF chunks are padded to an even size; some writers leave the pad byte out.
    if (riff !== size && riff + 1 !== size) return `a WebP of ${size} bytes whose header says ${riff}`;
  } else if (lower.endsWith('.svg')) {
    if (!/^\s*(<\?xml[^>]*>\s*)?<svg[\s>]/.test(head.toString('utf8'))) return 'not an SVG (it does not open with <svg)';
    if (!/<\/svg>\s*$/.test(tail.toString('utf8'))) return 'an SVG cut short (no closing </svg>)';
  } else if (lower.endsWith('.jpg') || lower.endsWith('.jpeg')) {
    if (head[0] !== 0xff || head[1] !== 0xd8) return 'not a JPEG';
    if (tail[tail.length - 2] !== 0xff || tail[tail.length - 1] !== 0xd9) return 'a JPEG cut short (no end marker)';
  } else if (lower.endsWith('.f32')) {
    if (size % 4 !== 0) return `${size} bytes, not a whole number of float32 values`;
  }
  return undefined;
}
