/**
 * Intrinsic size of an image for width/height attributes (no layout shift while thumbnails load).
 * PNG, WebP and SVG sizes are read from the first bytes of the file: a layer page of 512
 * filters and its filter pages read thousands of headers, which must stay cheap. Anything else
 * (a JPEG probe photo) goes through sharp.
 */
import { open, readFile } from 'node:fs/promises';
import { userError } from '../../../pipeline/errors.js';

export interface Size {
  width: number;
  height: number;
}

function pngSize(b: Buffer): Size | undefined {
  if (b.length >= 24 && b.readUInt32BE(0) === 0x89504e47 && b.toString('latin1', 12, 16) === 'IHDR') {
    return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
  }
  return undefined;
}

function webpSize(b: Buffer): Size | undefined {
  if (b.length < 30 || b.toString('latin1', 0, 4) !== 'RIFF' || b.toString('latin1', 8, 12) !== 'WEBP') return undefined;
  const chunk = b.toString('latin1', 12, 16);
  if (chunk === 'VP8 ') return { width: b.readUInt16LE(26) & 0x3fff, height: b.readUInt16LE(28) & 0x3fff };
  if (chunk === 'VP8L') {
    const bits = b.readUInt32LE(21);
    return { width: (bits & 0x3fff) + 1, height: ((bits >> 14) & 0x3fff) + 1 };
  }
  if (chunk === 'VP8X') return { width: b.readUIntLE(24, 3) + 1, height: b.readUIntLE(27, 3) + 1 };
  return undefined;
}

function svgSize(text: string): Size | undefined {
  const tag = /<svg\b[^>]*>/i.exec(text)?.[0];
  if (!tag) return undefined;
  const attr = (name: string) => new RegExp(`\\s${name}\\s*=\\s*["']\\s*([0-9.]+)(px)?\\s*["']`, 'i').exec(tag)?.[1];
  const width = Number(attr('width'));
  const height = Number(attr('height'));
  if (width > 0 && height > 0) return { width: Math.round(width), height: Math.round(height) };
  const box = /\sviewBox\s*=\s*["']([^"']+)["']/i.exec(tag)?.[1]?.trim().split(/[\s,]+/).map(Number);
  if (box?.length === 4 && box[2] > 0 && box[3] > 0) return { width: Math.round(box[2]), height: Math.round(box[3]) };
  return undefined;
}

export async function imageSize(path: string): Promise<Size> {
  if (/\.svg$/i.test(path)) {
    const size = svgSize((await readFile(path, 'utf8')).slice(0, 4096));
    if (size) return size;
  } else {
    const handle = await open(path, 'r');
    try {
      const head = Buffer.alloc(32);
      const { bytesRead } = await handle.read(head, 0, 32, 0);
      const size = pngSize(head.subarray(0, bytesRead)) ?? webpSize(head.subarray(0, bytesRead));
      if (size) return size;
    } finally {
      await handle.close();
    }
    const { default: sharp } = await import('sharp');
    const meta = await sharp(path).metadata().catch(() => undefined);
    if (meta?.width && meta.height) {
      // EXIF orientations 5-8 swap the displayed width and height.
      const swap = (meta.orientation ?? 1) >= 5;
      return swap ? { width: meta.height, height: meta.width } : { width: meta.width, height: meta.height };
    }
  }
  throw userError({
    where: path,
    expected: 'an image whose size can be read (PNG, WebP, JPEG or an SVG with width/height or viewBox)',
    received: 'an unreadable or unknown format',
    fix: 'Rebuild the atlas with `filter-atlas build`; the file may be truncated.',
  });
}
