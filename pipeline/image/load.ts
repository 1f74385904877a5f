import sharp from 'sharp';
import { userError } from '../errors.js';
import type { Preprocessing } from '../model/graph.js';
import { resizeForModel } from './resize.js';

/** sharp refuses images with more pixels than this by default; we allow large photos but not absurd ones. */
const MAX_INPUT_PIXELS = 20000 * 20000;

export interface RgbImage {
  /** CHW, RGB in [0, 1]. */
  data: Float32Array;
  height: number;
  width: number;
}

/**
 * Decodes any image sharp reads (JPEG, PNG, WebP, grayscale, with alpha) and resizes it
 * to the model's input size as its preprocessing says. Errors name the file. The resize is
 * resize.ts (TypeScript, libvips' algorithm) rather than sharp's own, so that the site's in-browser
 * probe, which runs the same file on the pixels the browser decodes, feeds the model the same input
 * (sharp's resize differs by a fraction of a grey level, enough to move class logits by 1 %).
 */
export async function loadImageForModel(path: string, preprocessing: Pick<Preprocessing, 'inputSize' | 'resize'>): Promise<RgbImage> {
  const [height, width] = preprocessing.inputSize;
  let decoded: { data: Buffer; info: { width: number; height: number; channels: number } };
  try {
    decoded = await sharp(path, { limitInputPixels: MAX_INPUT_PIXELS, failOn: 'error' })
      .rotate()
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
  } catch (error) {
    throw userError(
      {
        where: path,
        expected: 'a readable JPEG, PNG or WebP image',
        received: error instanceof Error ? error.message.replace(/\.$/, '') : String(error),
        fix: 'Convert the file to JPEG, PNG or WebP, or leave it out.',
      },
      error,
    );
  }
  const { data, info } = decoded;
  const resized = resizeForModel(data, info.width, info.height, info.channels, { inputSize: [height, width], resize: preprocessing.resize });
  return resized;
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
