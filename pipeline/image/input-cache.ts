/**
 * Photos decoded for the model, kept for the next stage that reads them. One build reads each dataset
 * photo at the model's size several times: the scan, then the connected filters (once per layer pair),
 * then the browser probe model's check. A decode and resize costs far more than the engine's forward
 * pass here (the default atlas's scan: 40 s, of which the engine 11 s), so the build decodes once.
 *
 * The model's input is 8-bit pixels / 255 (image/resize.ts), so a byte a value keeps it exactly: an
 * image is stored as bytes and handed back as the same float32 values, bit for bit (checked when it is
 * stored; one that does not round-trip is simply not kept). Oldest entries go first past `maxBytes`.
 */
import type { Preprocessing } from '../model/graph.js';
import type { ByteBudget } from '../util/byte-budget.js';
import { loadImageForModel, type RgbImage } from './load.js';

/** What the default atlas's 1000 photos take at 224 px (150 MB), with room for a larger sample. */
export const DEFAULT_INPUT_CACHE_BYTES = 256 * 1024 * 1024;

type ModelPreprocessing = Pick<Preprocessing, 'inputSize' | 'resize'>;

/** A loader with loadImageForModel's signature: the stages take one, so a build can share a cache. */
export type ModelImageLoader = (path: string, preprocessing: ModelPreprocessing, budget?: ByteBudget) => Promise<RgbImage>;

interface Entry {
  bytes: Uint8Array;
  height: number;
  width: number;
}

/** The bytes of `data` when every value is exactly byte / 255 in float32, else undefined. */
export function toExactBytes(data: Float32Array): Uint8Array | undefined {
  const bytes = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) {
    const byte = Math.round(data[i] * 255);
    if (!(byte >= 0 && byte <= 255) || Math.fround(byte / 255) !== data[i]) return undefined;
    bytes[i] = byte;
  }
  return bytes;
}

function fromBytes(entry: Entry): RgbImage {
  const data = new Float32Array(entry.bytes.length);
  for (let i = 0; i < data.length; i++) data[i] = entry.bytes[i] / 255;
  return { data, height: entry.height, width: entry.width };
}

export class ModelInputCache {
  private readonly entries = new Map<string, Entry>();
  private bytes = 0;
  /** Decodes saved (for tests and the figures). */
  hits = 0;

  constructor(
    private readonly maxBytes = DEFAULT_INPUT_CACHE_BYTES,
    private readonly decode: ModelImageLoader = loadImageForModel,
  ) {}

  /** loadImageForModel, from the cache when this photo was decoded at this size before. */
  readonly load: ModelImageLoader = async (path, preprocessing, budget) => {
    const key = `${preprocessing.inputSize.join('x')}:${preprocessing.resize}:${path}`;
    const found = this.entries.get(key);
    if (found) {
      this.hits++;
      // Re-inserted: the most recently used is the last to go.
      this.entries.delete(key);
      this.entries.set(key, found);
      return fromBytes(found);
    }
    const image = await this.decode(path, preprocessing, budget);
    const bytes = toExactBytes(image.data);
    if (bytes && bytes.length <= this.maxBytes && !this.entries.has(key)) {
      this.entries.set(key, { bytes, height: image.height, width: image.width });
      this.bytes += bytes.length;
      for (const [oldest, entry] of this.entries) {
        if (this.bytes <= this.maxBytes) break;
        this.entries.delete(oldest);
        this.bytes -= entry.bytes.length;
      }
    }
    return image;
  };
}
