/**
 * Encodes visualisations with sharp: the lossless PNG and the web versions (WebP), all from one 8-bit
 * RGB copy of the picture, the one thumbnail pipeline of the project. Bytes depend only on the
 * pixels: sharp writes no timestamps, and no metadata is kept.
 */
import type sharpModule from 'sharp';

export interface RgbFloatImage {
  /** CHW, RGB in [0, 1]; values outside are clipped. */
  data: Float32Array;
  height: number;
  width: number;
}

/** 8-bit RGB, interleaved (HWC): what every encoder here reads. */
export interface RgbBytes {
  data: Buffer;
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

/** A float picture as the 8-bit pixels its PNG holds. */
export function toRgbBytes(image: RgbFloatImage): RgbBytes {
  return { data: toInterleavedBytes(image), height: image.height, width: image.width };
}

function fromRaw(sharp: typeof sharpModule, pixels: RgbBytes) {
  return sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: 3 } });
}

/**
 * The PNGs' zlib level and filtering, by CPU time against size on 50 pictures of
 * bench/default-eighth.yaml (bench/png-levels.ts; README "Results measured here", Pictures): level 4 with adaptive filtering
 * takes about a fifth less CPU time than level 9 for 0.1 % more bytes; without adaptive filtering
 * these noisy pictures grow 6 %, and at level 1 by 30 %. The PNG is the lossless original, kept on
 * disk: bytes matter more than the last millisecond (the WebPs cost three times as much anyway).
 */
export const PNG_OPTIONS = { compressionLevel: 4, adaptiveFiltering: true } as const;

/** Lossless PNG, 8-bit RGB. */
export async function encodePng(image: RgbFloatImage | RgbBytes): Promise<Buffer> {
  const sharp = await loadSharp();
  const pixels = image.data instanceof Float32Array ? toRgbBytes(image as RgbFloatImage) : (image as RgbBytes);
  return fromRaw(sharp, pixels).png(PNG_OPTIONS).toBuffer();
}

/** A PNG (or any picture sharp reads) as 8-bit RGB: how a picture written earlier gets its web versions. */
export async function decodeRgb(file: Uint8Array): Promise<RgbBytes> {
  const sharp = await loadSharp();
  const { data, info } = await sharp(Buffer.from(file.buffer, file.byteOffset, file.byteLength)).removeAlpha().toColourspace('srgb').raw().toBuffer({ resolveWithObject: true });
  return { data, height: info.height, width: info.width };
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

export interface WebImageBytes {
  full: Buffer;
  thumb1x: Buffer;
  /** Absent when the picture is no larger than the 2x thumbnail: `full` serves as it. */
  thumb2x?: Buffer;
}

/**
 * A high-quality WebP at the picture's own size and WebP thumbnails at 1x and 2x (Lanczos, never
 * enlarged). A picture no larger than the 2x thumbnail (the default atlas's 142 and 227 px) has the
 * full WebP as its 2x thumbnail (thumb2x undefined): the same pixels, one file fewer per filter.
 */
export async function encodeWebImages(pixels: RgbBytes): Promise<WebImageBytes> {
  const sharp = await loadSharp();
  const thumb = (size: number) =>
    fromRaw(sharp, pixels).resize(size, size, { fit: 'inside', withoutEnlargement: true, kernel: 'lanczos3' }).webp({ quality: WEB_IMAGES.thumbQuality, effort: 5 }).toBuffer();
  // All three at once: libvips' threads encode them without waiting for this thread in between.
  const [full, thumb1x, thumb2x] = await Promise.all([
    fromRaw(sharp, pixels).webp({ quality: WEB_IMAGES.fullQuality, effort: 5 }).toBuffer(),
    thumb(WEB_IMAGES.thumbSize),
    Math.max(pixels.width, pixels.height) > 2 * WEB_IMAGES.thumbSize ? thumb(2 * WEB_IMAGES.thumbSize) : undefined,
  ]);
  return { full, thumb1x, ...(thumb2x ? { thumb2x } : {}) };
}
