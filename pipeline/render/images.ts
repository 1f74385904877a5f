/**
 * Encodes float visualisations (CHW RGB in [0, 1]) as PNG and WebP with sharp.
 * Bytes depend only on the pixels: sharp writes no timestamps, and no metadata is kept.
 */
import type sharpModule from 'sharp';

export interface RgbFloatImage {
  /** CHW, RGB in [0, 1]; values outside are clipped. */
  data: Float32Array;
  height: number;
  width: number;
}

async function loadSharp(): Promise<typeof sharpModule> {
  return (await import('sharp')).default;
}

/** CHW floats -> HWC bytes (rounded, clipped to [0, 255]). */
export function toInterleavedBytes(image: RgbFloatImage): Buffer {
  const { data, height, width } = image;
  const plane = height * width;
  if (data.length !== 3 * plane) throw new RangeError(`image: expected ${3 * plane} values (3 x ${height} x ${width}), received ${data.length}`);
  const out = Buffer.alloc(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let c = 0; c < 3; c++) {
      const v = Math.round(data[c * plane + i] * 255);
      out[3 * i + c] = v > 0 ? (v < 255 ? v : 255) : 0; // NaN fails v > 0: black, never garbage
    }
  }
  return out;
}

function raw(image: RgbFloatImage) {
  return { raw: { width: image.width, height: image.height, channels: 3 as const } };
}

/** Lossless PNG, 8-bit RGB. */
export async function encodePng(image: RgbFloatImage): Promise<Buffer> {
  const sharp = await loadSharp();
  return sharp(toInterleavedBytes(image), raw(image)).png({ compressionLevel: 9, adaptiveFiltering: true }).toBuffer();
}

/** A WebP thumbnail whose longer side is `size` pixels (never enlarged), Lanczos-downscaled. */
export async function encodeWebpThumbnail(image: RgbFloatImage, size: number): Promise<Buffer> {
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`thumbnail size: expected a positive integer, received ${size}`);
  const sharp = await loadSharp();
  return sharp(toInterleavedBytes(image), raw(image))
    .resize(size, size, { fit: 'inside', withoutEnlargement: true, kernel: 'lanczos3' })
    .webp({ quality: 82, effort: 4, smartSubsample: true })
    .toBuffer();
}

/** Sizes and qualities of the web versions of a visualisation (README "Light pages" has the measurements). */
export const WEB_IMAGES = {
  /** CSS pixels of a grid tile's thumbnail (the 2x one has twice as many, never more than the picture). */
  thumbSize: 128,
  thumbQuality: 70,
  /**
   * The full-size WebP on the filter page, also the 2x tile of a picture up to 256 px. 75 rather
   * than 85: 28 % fewer bytes (17.2 instead of 24.0 KB for a 227 px conv2d_16 picture), no visible
   * difference at 3x zoom; the PNG stays the lossless original.
   */
  fullQuality: 75,
} as const;

/**
 * From a visualisation's PNG: a high-quality WebP at its own size and WebP thumbnails at 1x and 2x.
 * A picture no larger than the 2x thumbnail (the default atlas's 142 and 227 px) has the full WebP
 * as its 2x thumbnail (thumb2x undefined): the same pixels, one file fewer per filter.
 */
export async function encodeWebImages(png: Uint8Array): Promise<{ full: Buffer; thumb1x: Buffer; thumb2x?: Buffer }> {
  const sharp = await loadSharp();
  const source = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const { width = 0, height = 0 } = await sharp(source).metadata();
  const thumb = (size: number) =>
    sharp(source).resize(size, size, { fit: 'inside', withoutEnlargement: true, kernel: 'lanczos3' }).webp({ quality: WEB_IMAGES.thumbQuality, effort: 5 }).toBuffer();
  return {
    full: await sharp(source).webp({ quality: WEB_IMAGES.fullQuality, effort: 5 }).toBuffer(),
    thumb1x: await thumb(WEB_IMAGES.thumbSize),
    ...(Math.max(width, height) > 2 * WEB_IMAGES.thumbSize ? { thumb2x: await thumb(2 * WEB_IMAGES.thumbSize) } : {}),
  };
}
