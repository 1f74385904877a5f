import sharp from 'sharp';
import { userError } from '../errors.js';
import type { Preprocessing } from '../model/graph.js';
import type { ByteBudget } from '../util/byte-budget.js';
import { resizeForModel } from './resize.js';

/**
 * Photos with more pixels are refused from their header. The models see 224 px or so; 50 MP covers the
 * photos of today's cameras (8000 x 6000 is 48 MP), and refuses the decompression bombs a few hundred
 * kB of PNG make (19000 x 19000 of one colour is 350 kB and 1 GB of RGB).
 */
export const MAX_INPUT_PIXELS = 50_000_000;

/**
 * Photos up to this many pixels are decoded at full size and resized by resize.ts, the resize the
 * site's in-browser probe repeats (so both feed the model the same bytes). Larger ones (a few real
 * photos, and bombs under MAX_INPUT_PIXELS) are first shrunk by libvips while they are decoded (JPEG's
 * shrink-on-load, PNG row by row) to twice the model's input or more, so a 49 MP PNG holds a few MB
 * instead of 150 MB; their input differs from the full decode's by a fraction of a grey level.
 */
export const FULL_DECODE_PIXELS = 4096 * 4096;

export interface RgbImage {
  /** CHW, RGB in [0, 1]. */
  data: Float32Array;
  height: number;
  width: number;
}

/** A photo's header: its size after EXIF orientation, and whether its decoder needs the whole image at once. */
export interface ImageHeader {
  width: number;
  height: number;
  /** Progressive JPEG or interlaced PNG: libvips decodes all of it before any shrink. */
  progressive: boolean;
}

const unreadable = (path: string, error: unknown) =>
  userError(
    {
      where: path,
      expected: 'a readable JPEG, PNG or WebP image',
      received: error instanceof Error ? error.message.replace(/\.$/, '') : String(error),
      fix: 'Convert the file to JPEG, PNG or WebP, or leave it out.',
    },
    error,
  );

/** Reads a photo's header only (no pixels); refuses one over MAX_INPUT_PIXELS. Errors name the file. */
export async function readImageHeader(path: string): Promise<ImageHeader> {
  let header: ImageHeader;
  try {
    const meta = await sharp(path, { limitInputPixels: false, failOn: 'error' }).metadata();
    const { width, height } = meta.autoOrient ?? meta;
    header = { width: width ?? 0, height: height ?? 0, progressive: meta.isProgressive === true };
  } catch (error) {
    throw unreadable(path, error);
  }
  if (header.width * header.height > MAX_INPUT_PIXELS) {
    // sharp's own words for its limit, which skipped-file reasons have always used.
    throw unreadable(path, new Error(`Input image exceeds pixel limit (${header.width}x${header.height} px, at most ${MAX_INPUT_PIXELS / 1e6} megapixels)`));
  }
  return header;
}

/** The side length libvips shrinks a large photo to before resize.ts: a whole factor, keeping twice the model's input. */
function shrinkFactor(header: Pick<ImageHeader, 'width' | 'height'>, inputSize: readonly [number, number]): number {
  if (header.width * header.height <= FULL_DECODE_PIXELS) return 1;
  const [height, width] = inputSize;
  return Math.max(1, Math.floor(Math.min(header.width / width, header.height / height) / 2));
}

/**
 * Bytes the decode and resize of this photo hold at once: the RGB decode and resize.ts's copy of it (7
 * bytes a pixel), or for a shrunk photo its shrunk size plus what its decoder keeps (all of a progressive
 * or interlaced image, else a few rows).
 */
export function decodeBytes(header: ImageHeader, inputSize: readonly [number, number]): number {
  const factor = shrinkFactor(header, inputSize);
  const decoded = 7 * Math.ceil(header.width / factor) * Math.ceil(header.height / factor);
  if (factor === 1) return decoded;
  return decoded + (header.progressive ? 4 * header.width * header.height : 4 * header.width * 64);
}

/**
 * Decodes any image sharp reads (JPEG, PNG, WebP, grayscale, with alpha) and resizes it
 * to the model's input size as its preprocessing says. Errors name the file. The resize is
 * resize.ts (TypeScript, libvips' algorithm) rather than sharp's own, so that the site's in-browser
 * probe, which runs the same file on the pixels the browser decodes, feeds the model the same input
 * (sharp's resize differs by a fraction of a grey level, enough to move class logits by 1 %).
 * A photo over FULL_DECODE_PIXELS is shrunk while it is decoded; with a `budget`, the decode waits
 * until its bytes (decodeBytes) fit among the decodes in flight.
 */
export async function loadImageForModel(path: string, preprocessing: Pick<Preprocessing, 'inputSize' | 'resize'>, budget?: ByteBudget): Promise<RgbImage> {
  const [height, width] = preprocessing.inputSize;
  const header = await readImageHeader(path);
  const release = await budget?.acquire(decodeBytes(header, preprocessing.inputSize));
  try {
    let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
    try {
      let image = sharp(path, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' }).rotate();
      const factor = shrinkFactor(header, preprocessing.inputSize);
      if (factor > 1) {
        image = image.resize(Math.round(header.width / factor), Math.round(header.height / factor), { fit: 'fill', kernel: 'cubic' });
      }
      decoded = await image.removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
    } catch (error) {
      throw unreadable(path, error);
    }
    const { data, info } = decoded;
    return resizeForModel(data, info.width, info.height, info.channels, { inputSize: [height, width], resize: preprocessing.resize });
  } finally {
    release?.();
  }
}

/** HWC bytes (RGB) -> CHW floats in [0, 1]. */
export function interleavedToPlanar(bytes: Uint8Array, height: number, width: number): Float32Array {
  const plane = height * width;
  const out = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    out[i] = bytes[3 * i] / 255;
    out[plane + i] = bytes[3 * i + 1] / 255;
    out[2 * plane + i] = bytes[3 * i + 2] / 255;
  }
  return out;
}
