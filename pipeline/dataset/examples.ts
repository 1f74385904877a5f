/**
 * Dataset examples of one filter: for each of its top images, a WebP crop of the original photo
 * around the most active unit (the unit's receptive field), a shared thumbnail of the whole photo,
 * and the class histogram of those images. Paths returned are relative to the atlas folder.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import PQueue from 'p-queue';
import sharp from 'sharp';
import type { TopImage } from '../schema/atlas.js';
import type { CnnModel } from '../model/graph.js';
import { receptiveField } from '../model/layers.js';
import { safeFileName } from '../util/file-names.js';
import { writeFileAtomic } from '../util/fs.js';
import type { DatasetImage } from './list.js';
import type { LayerScan } from './scan.js';
import { cropBox, type Box } from './crop.js';

export interface LabelCount {
  label: string;
  count: number;
}

export interface ImageSizes {
  /** Longest side of a crop, px (small fields are enlarged with nearest-neighbour, so pixels stay honest). @default 128 */
  crop: number;
  /** Longest side of a thumbnail, px. @default 128 */
  thumb: number;
  /** WebP quality. @default 50 */
  quality: number;
}

/**
 * Shown at about 100 CSS px on filter pages; 12,744 crops in the default atlas, so their size is
 * most of the site's (README "Light pages": 160 px at quality 80 was 3.5 KB a crop; quality 65 2.4 KB;
 * 50 is 15 % less again, with no visible difference at 3x zoom).
 */
const DEFAULT_SIZES: ImageSizes = { crop: 128, thumb: 128, quality: 50 };

/** One thumbnail per dataset image, written once and shared by every filter (and reused from disk on resume). */
export interface ThumbnailStore {
  thumbnail(image: DatasetImage): Promise<string>;
}

/**
 * Thumbnails go to `<atlasDir>/<subdir>/<safeFileName(file)>.webp` (pipeline/util/file-names.ts). Key `subdir` by the dataset digest:
 * a file already there is trusted to be this image's thumbnail.
 */
export function createThumbnailStore(atlasDir: string, subdir: string, sizes: Partial<ImageSizes> = {}): ThumbnailStore {
  const { thumb, quality } = { ...DEFAULT_SIZES, ...sizes };
  const written = new Map<string, Promise<string>>();
  return {
    thumbnail(image) {
      let path = written.get(image.file);
      if (!path) {
        const relative = `${subdir}/${safeFileName(image.file)}.webp`;
        path = (async () => {
          const absolute = join(atlasDir, relative);
          if (!(await exists(absolute))) {
            const bytes = await sharp(image.path, { failOn: 'error', limitInputPixels: false })
              .rotate()
              .resize(thumb, thumb, { fit: 'inside', kernel: 'cubic', withoutEnlargement: true })
              .webp({ quality })
              .toBuffer();
            await writeFileAtomic(absolute, bytes);
          }
          return relative;
        })();
        // A failed write is retried by the next caller instead of being cached.
        path.catch(() => written.delete(image.file));
        written.set(image.file, path);
      }
      return path;
    },
  };
}

export interface FilterExamplesOptions {
  /** The atlas folder (output/<atlas-id>/). */
  atlasDir: string;
  /** Atlas-relative folder for this filter's crops (e.g. `examples/conv2d_16`). */
  subdir: string;
  model: Pick<CnnModel, 'graph' | 'preprocessing'>;
  /** The scanned images (ScanResult.images) and the layer's scan. */
  images: readonly DatasetImage[];
  layer: LayerScan;
  filter: number;
  thumbnails: ThumbnailStore;
  sizes?: Partial<ImageSizes>;
}

export interface FilterExamples {
  top: TopImage[];
  labels: LabelCount[];
}

/** Writes the crops of one filter's top images (`<subdir>/<filter>-<rank>.webp`) and returns atlas entries. */
export async function writeFilterExamples(options: FilterExamplesOptions): Promise<FilterExamples> {
  const { subdir, layer, filter, ...common } = options;
  const [examples] = await writeExamples({ ...common, filters: [{ subdir, layer, filter }] });
  return examples;
}

/** One filter whose examples `writeExamples` writes. */
export interface ExamplesRequest {
  /** Atlas-relative folder for this filter's crops (e.g. `examples/conv2d_16`). */
  subdir: string;
  layer: LayerScan;
  filter: number;
}

export interface ExamplesOptions extends Omit<FilterExamplesOptions, 'subdir' | 'layer' | 'filter'> {
  filters: readonly ExamplesRequest[];
  /** Photos decoded at once (each held whole while its crops are cut: an 8000 px photo is ~200 MB). @default 2 */
  photosAtOnce?: number;
  /**
   * Writes one crop of `request` (atlas-relative path). Default: atomically, flushed to the disk on its
   * own (writeFileAtomic). A build passes a writer that flushes each filter's crops together before
   * its record (atlas/store.ts DurableBatch): one round of flushes a filter instead of one per crop.
   */
  writeCrop?: (request: ExamplesRequest, relative: string, bytes: Uint8Array) => Promise<void>;
  /** Called as soon as all of one filter's crops are written (the build writes its record then, for resume). */
  onFilter?: (request: ExamplesRequest, examples: FilterExamples) => Promise<void>;
  signal?: AbortSignal;
}

interface PlannedCrop {
  request: number;
  rank: number;
  image: number;
  cell: number;
  at: TopImage['at'];
}

/**
 * Writes the examples of several filters, photo by photo: each photo is decoded once (oriented, in
 * sRGB) and all its crops, for every filter that lists it, are cut from that one decode
 * (~13 crops a photo in the default atlas). Its thumbnail keeps a pipeline of its own: a JPEG
 * thumbnail is decoded shrunk (libjpeg's DCT scaling), which a full decode cannot reproduce byte
 * for byte. Output files are byte-identical to cutting each crop from the file (renderCrop). Photos
 * come in the order of the first filter that lists them, so filters complete (onFilter) early.
 * Returns each filter's examples, in request order.
 */
export async function writeExamples(options: ExamplesOptions): Promise<FilterExamples[]> {
  const { atlasDir, model, images, thumbnails, filters } = options;
  const sizes = { ...DEFAULT_SIZES, ...options.sizes };
  const fields = new Map<string, number>();
  const crops: PlannedCrop[] = [];
  for (const [request, { layer, filter }] of filters.entries()) {
    if (!Number.isInteger(filter) || filter < 0 || filter >= layer.channels) {
      throw new RangeError(`filter ${filter} is outside layer ${layer.layer} (0..${layer.channels - 1})`);
    }
    if (!fields.has(layer.layer)) {
      // A unit after global pooling (class logits) sees the whole input: its crop is the whole model input.
      const rf = receptiveField(model.graph, layer.layer);
      fields.set(layer.layer, rf.global ? Math.max(...model.preprocessing.inputSize) : rf.size);
    }
    for (const [rank, image] of Array.from(layer.top[filter]).entries()) {
      const cell = image * layer.channels + filter;
      const flat = layer.argmax[cell];
      crops.push({ request, rank, image, cell, at: { y: Math.floor(flat / layer.width), x: flat % layer.width, height: layer.height, width: layer.width } });
    }
  }
  const byPhoto = new Map<number, PlannedCrop[]>();
  for (const crop of crops) {
    const planned = byPhoto.get(crop.image);
    if (planned) planned.push(crop);
    else byPhoto.set(crop.image, [crop]);
  }
  const top = filters.map((request) => new Array<TopImage>(request.layer.top[request.filter].length));
  const left = top.map((entries) => entries.length);
  const results: FilterExamples[] = new Array(filters.length);
  const finish = async (request: number) => {
    results[request] = { top: top[request], labels: labelHistogram(top[request]) };
    await options.onFilter?.(filters[request], results[request]);
  };
  for (const [request, count] of left.entries()) if (count === 0) await finish(request);

  const writeCrop = options.writeCrop ?? ((_request: ExamplesRequest, relative: string, bytes: Uint8Array) => writeFileAtomic(join(atlasDir, relative), bytes));
  const queue = new PQueue({ concurrency: options.photosAtOnce ?? 2 });
  const photo = async (index: number, planned: PlannedCrop[]) => {
    options.signal?.throwIfAborted();
    const image = images[index];
    const decoded = await decodePhoto(image.path);
    const thumb = await thumbnails.thumbnail(image);
    // Filters of a layer often share a unit's box (units near the edge clamp to the same box; a large
    // field covers the whole photo), and a box's crop is the same bytes whoever asks: encoded once.
    const encoded = new Map<string, Promise<Buffer>>();
    const encode = (box: Box): Promise<Buffer> => {
      const key = `${box.left},${box.top},${box.width},${box.height}`;
      let bytes = encoded.get(key);
      if (!bytes) encoded.set(key, (bytes = decoded.crop(box, sizes)));
      return bytes;
    };
    // All of a photo's crops at once: libvips' threads cut and encode them while the files are written.
    const cut = async (crop: PlannedCrop) => {
      const { layer, filter, subdir } = filters[crop.request];
      const box = cropBox({
        y: crop.at.y,
        x: crop.at.x,
        gridHeight: layer.height,
        gridWidth: layer.width,
        receptiveField: fields.get(layer.layer)!,
        preprocessing: model.preprocessing,
        imageWidth: decoded.width,
        imageHeight: decoded.height,
      });
      const file = `${subdir}/${filter}-${crop.rank}.webp`;
      await writeCrop(filters[crop.request], file, await encode(box));
      const entry: TopImage = { file: image.file, mean: layer.means[crop.cell], max: layer.max[crop.cell], at: crop.at, crop: file, thumb };
      if (image.label !== undefined) entry.label = image.label;
      if (image.classIndex !== undefined) entry.classIndex = image.classIndex;
      top[crop.request][crop.rank] = entry;
      if (--left[crop.request] === 0) await finish(crop.request);
    };
    // Every crop settles before the photo does (a failure is thrown after the others' writes ended).
    const results = await Promise.allSettled(planned.map(cut));
    const failed = results.find((result) => result.status === 'rejected');
    if (failed) throw failed.reason;
  };
  const tasks = [...byPhoto].map(([index, planned]) => queue.add(() => photo(index, planned)));
  try {
    await Promise.all(tasks);
  } catch (error) {
    // Stop what has not started; let what runs finish its atomic writes.
    queue.clear();
    await queue.onIdle();
    throw error;
  }
  return results;
}

/** A photo's oriented size and a way to cut crops from it. */
interface DecodedPhoto {
  width: number;
  height: number;
  crop(box: Box, sizes: ImageSizes): Promise<Buffer>;
}

/**
 * The photo decoded once, oriented and in sRGB (sharp applies the embedded profile first, per
 * pixel, as renderCrop's pipeline does), as 8-bit pixels in memory. A photo of more than 8 bits per
 * channel is not decoded here: renderCrop resizes it at its own depth, which 8-bit pixels would not
 * reproduce byte for byte, so its crops are cut from the file each (rare: 16-bit PNG or TIFF).
 */
async function decodePhoto(path: string): Promise<DecodedPhoto> {
  const meta = await sharp(path, { limitInputPixels: false }).metadata();
  if (meta.depth !== 'uchar') {
    const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
    return { width: oriented.width, height: oriented.height, crop: (box, sizes) => renderCrop(path, box, sizes) };
  }
  const { data, info } = await sharp(path, { failOn: 'error', limitInputPixels: false }).rotate().raw().toBuffer({ resolveWithObject: true });
  const raw = { width: info.width, height: info.height, channels: info.channels };
  return {
    width: info.width,
    height: info.height,
    crop: (box, sizes) => cropPipeline(sharp(data, { raw }), box, sizes),
  };
}

/** Crop in oriented photo pixels, scaled so its longest side is `sizes.crop`. */
export async function renderCrop(path: string, box: Box, sizes: ImageSizes = DEFAULT_SIZES): Promise<Buffer> {
  // rotate before extract: sharp applies operations in call order here, so the box is in oriented pixels.
  return cropPipeline(sharp(path, { failOn: 'error', limitInputPixels: false }).rotate(), box, sizes);
}

/** The crop's steps after decoding: cut the box, scale its longest side to `sizes.crop`, encode. */
function cropPipeline(image: ReturnType<typeof sharp>, box: Box, sizes: ImageSizes): Promise<Buffer> {
  const enlarge = sizes.crop > Math.max(box.width, box.height);
  return image
    .extract(box)
    .resize(sizes.crop, sizes.crop, { fit: 'inside', kernel: enlarge ? 'nearest' : 'cubic' })
    .webp({ quality: sizes.quality })
    .toBuffer();
}

/** Class histogram of the top images, most frequent first; ties keep the order of first (best-ranked) appearance. */
export function labelHistogram(top: ReadonlyArray<{ label?: string }>): LabelCount[] {
  const counts = new Map<string, number>();
  for (const { label } of top) if (label !== undefined) counts.set(label, (counts.get(label) ?? 0) + 1);
  // Map keeps insertion order and Array.prototype.sort is stable, so ties stay in rank order.
  return Array.from(counts, ([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count);
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
