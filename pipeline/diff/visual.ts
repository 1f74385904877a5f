/**
 * The two signals of a diff that look at the visualisations: cross-activation (each model run on
 * each PNG at the PNG's own size, objective = mean of the unit's channel) and SSIM of the two PNGs.
 * PNGs are read a chunk at a time, so an article-size layer (512 filters at 408 px) stays in memory.
 */
import type sharpModule from 'sharp';
import { ssim } from 'ssim.js';
import type { Engine, ImageBatch } from '../engine/engine.js';
import { userError } from '../errors.js';
import { interleavedToPlanar } from '../image/load.js';

export interface VisualPair {
  /** Channels of the unit in model A and in model B (they differ when the layer was matched as permuted). */
  a: number;
  b: number;
  /** Absolute PNG paths; absent when that side's visualisation failed. */
  imageA?: string;
  imageB?: string;
}

export interface VisualSignals {
  cross?: { aOnA: number; bOnA: number; aOnB: number; bOnB: number };
  ssim?: number;
}

export interface Decoded {
  rgb: Buffer;
  height: number;
  width: number;
}

async function decode(sharp: typeof sharpModule, path: string, size?: { height: number; width: number }): Promise<Decoded> {
  try {
    let pipeline = sharp(path).removeAlpha().toColourspace('srgb');
    if (size) pipeline = pipeline.resize(size.width, size.height, { fit: 'fill', kernel: 'cubic' });
    const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
    return { rgb: data, height: info.height, width: info.width };
  } catch (error) {
    throw userError({ where: path, expected: 'a readable visualisation PNG of the atlas', received: error instanceof Error ? error.message : String(error), fix: 'Rebuild the atlas (filter-atlas build) so its files are complete.' }, error);
  }
}

function toRgba(image: Decoded): { data: Uint8ClampedArray; height: number; width: number } {
  const plane = image.height * image.width;
  const data = new Uint8ClampedArray(plane * 4);
  for (let i = 0; i < plane; i++) {
    data[4 * i] = image.rgb[3 * i];
    data[4 * i + 1] = image.rgb[3 * i + 1];
    data[4 * i + 2] = image.rgb[3 * i + 2];
    data[4 * i + 3] = 255;
  }
  return { data, height: image.height, width: image.width };
}

/** Structural similarity (mean SSIM, ssim.js defaults) of two decoded images of the same size. */
export function similarity(a: Decoded, b: Decoded): number {
  return ssim(toRgba(a), toRgba(b)).mssim;
}

/** Mean over space of the given channel of each image: images of one size run as one batch. */
async function channelMeans(engine: Engine, layer: string, images: Decoded[], channels: number[]): Promise<number[]> {
  const result = new Array<number>(images.length).fill(NaN);
  const bySize = new Map<string, number[]>();
  images.forEach((image, i) => {
    const key = `${image.height}x${image.width}`;
    bySize.set(key, [...(bySize.get(key) ?? []), i]);
  });
  for (const indices of bySize.values()) {
    const { height, width } = images[indices[0]];
    const plane = 3 * height * width;
    const data = new Float32Array(indices.length * plane);
    indices.forEach((index, n) => data.set(interleavedToPlanar(images[index].rgb, height, width), n * plane));
    const batch: ImageBatch = { data, n: indices.length, height, width };
    const maps = (await engine.forward(batch, [layer])).get(layer);
    if (!maps) throw new Error(`engine.forward returned no output for layer ${layer}`);
    const area = maps.height * maps.width;
    indices.forEach((index, n) => {
      const offset = (n * maps.channels + channels[index]) * area;
      let sum = 0;
      for (let p = 0; p < area; p++) sum += maps.data[offset + p];
      result[index] = sum / area;
    });
  }
  return result;
}

/**
 * Cross-activations and SSIM for every pair of one layer, `chunkSize` pairs at a time.
 * A pair missing either image gets neither signal (a failed visualisation has no PNG); without
 * engines (a model whose weights are gone) only SSIM.
 */
export async function visualSignals(
  pairs: readonly VisualPair[],
  layer: string,
  engines: { a: Engine; b: Engine } | undefined,
  options: { chunkSize?: number; signal?: AbortSignal; onChunk?: (done: number) => void } = {},
): Promise<VisualSignals[]> {
  const sharp = (await import('sharp')).default;
  const chunkSize = options.chunkSize ?? 8;
  const out: VisualSignals[] = pairs.map(() => ({}));
  const complete = pairs.map((p, i) => i).filter((i) => pairs[i].imageA && pairs[i].imageB);
  for (let start = 0; start < complete.length; start += chunkSize) {
    options.signal?.throwIfAborted();
    const chunk = complete.slice(start, start + chunkSize);
    const imagesA = await Promise.all(chunk.map((i) => decode(sharp, pairs[i].imageA!)));
    const imagesB = await Promise.all(chunk.map((i) => decode(sharp, pairs[i].imageB!)));
    const channelsA = chunk.map((i) => pairs[i].a);
    const channelsB = chunk.map((i) => pairs[i].b);
    if (engines) {
      // One engine for both sides (same weights) and the same channels: two passes say all four numbers.
      const shared = engines.a === engines.b && channelsA.every((c, n) => c === channelsB[n]);
      const aOnA = await channelMeans(engines.a, layer, imagesA, channelsA);
      const bOnA = shared ? aOnA : await channelMeans(engines.b, layer, imagesA, channelsB);
      const bOnB = await channelMeans(engines.b, layer, imagesB, channelsB);
      const aOnB = shared ? bOnB : await channelMeans(engines.a, layer, imagesB, channelsA);
      for (const [n, i] of chunk.entries()) out[i].cross = { aOnA: aOnA[n], bOnA: bOnA[n], aOnB: aOnB[n], bOnB: bOnB[n] };
    }
    for (const [n, i] of chunk.entries()) {
      // B is resized to A's size when the two atlases used different schedules.
      const a = imagesA[n];
      const b = imagesB[n].height === a.height && imagesB[n].width === a.width ? imagesB[n] : await decode(sharp, pairs[i].imageB!, a);
      out[i].ssim = similarity(a, b);
    }
    options.onChunk?.(Math.min(complete.length, start + chunkSize));
  }
  return out;
}
