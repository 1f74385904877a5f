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
