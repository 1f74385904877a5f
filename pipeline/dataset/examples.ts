/**
 * Dataset examples of one filter: for each of its top images, a WebP crop of the original photo
 * around the most active unit (the unit's receptive field), a shared thumbnail of the whole photo,
 * and the class histogram of those images. Paths returned are relative to the atlas folder.
 */
import { access } from 'node:fs/promises';
import { join } from 'node:path';
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
  const { atlasDir, subdir, model, images, layer, filter, thumbnails } = options;
  const sizes = { ...DEFAULT_SIZES, ...options.sizes };
  if (!Number.isInteger(filter) || filter < 0 || filter >= layer.channels) {
    throw new RangeError(`filter ${filter} is outside layer ${layer.layer} (0..${layer.channels - 1})`);
  }
  // A unit after global pooling (class logits) sees the whole input: its crop is the whole model input.
  const rf = receptiveField(model.graph, layer.layer);
  const field = rf.global ? Math.max(...model.preprocessing.inputSize) : rf.size;
  const top: TopImage[] = [];
  // One image at a time: an 8000 px photo decodes to ~200 MB, so no fan-out here (callers may run filters in parallel).
  for (const [rank, index] of Array.from(layer.top[filter]).entries()) {
    const image = images[index];
    const cell = index * layer.channels + filter;
    const flat = layer.argmax[cell];
    const at = { y: Math.floor(flat / layer.width), x: flat % layer.width, height: layer.height, width: layer.width };
    const meta = await sharp(image.path, { limitInputPixels: false }).metadata();
    const oriented = meta.autoOrient ?? { width: meta.width, height: meta.height };
    const box = cropBox({
      y: at.y,
      x: at.x,
      gridHeight: layer.height,
      gridWidth: layer.width,
      receptiveField: field,
      preprocessing: model.preprocessing,
      imageWidth: oriented.width,
      imageHeight: oriented.height,
    });
    const crop = `${subdir}/${filter}-${rank}.webp`;
    await writeFileAtomic(join(atlasDir, crop), await renderCrop(image.path, box, sizes));
    const entry: TopImage = {
      file: image.file,
      mean: layer.means[cell],
      max: layer.max[cell],
      at,
      crop,
      thumb: await thumbnails.thumbnail(image),
    };
    if (image.label !== undefined) entry.label = image.label;
    if (image.classIndex !== undefined) entry.classIndex = image.classIndex;
    top.push(entry);
  }
  return { top, labels: labelHistogram(top) };
}

/** Crop in oriented photo pixels, scaled so its longest side is `sizes.crop`. */
export async function renderCrop(path: string, box: Box, sizes: ImageSizes = DEFAULT_SIZES): Promise<Buffer> {
  const enlarge = sizes.crop > Math.max(box.width, box.height);
  return sharp(path, { failOn: 'error', limitInputPixels: false })
    .rotate() // before extract: sharp applies operations in call order here, so the box is in oriented pixels
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
