/**
 * Web versions of every main visualisation: a high-quality WebP for the filter page and small WebP
 * thumbnails at 1x and 2x for layer grids (render/images.ts encodeWebImages, the one thumbnail
 * pipeline). The visualisation stage writes them with the picture, from the image in memory
 * (stage-visualize.ts); runWebImages makes them from the PNG for a picture that has none yet (a
 * picture reused from a layer's other method, a shard killed between its records). Keyed by the
 * visualisation's own key, so they follow the picture and a new thumbnail size (CODE_VERSIONS.web)
 * never recomputes a visualisation.
 */
import { readFile } from 'node:fs/promises';
import PQueue from 'p-queue';
import { decodeRgb, encodeWebImages, WEB_IMAGES, type WebImageBytes } from '../render/images.js';
import type { Progress } from '../util/progress.js';
import { webKey } from './keys.js';
import { webFiles, webRecordSchema, type VisualRecord, type WebRecord } from './records.js';
import type { AtlasStore, DurableBatch } from './store.js';

/** Writes a picture's web images into `batch` (its commit makes them durable); their record and its key, for the same commit. */
export async function writeWebImages(batch: DurableBatch, vizKey: string, encoded: WebImageBytes): Promise<{ key: string; record: WebRecord }> {
  const key = webKey({ viz: vizKey });
  const [full, thumb1x, thumb2x] = await Promise.all([
    batch.writeFile(`files/${key}/full.webp`, encoded.full),
    batch.writeFile(`files/${key}/thumb-1x.webp`, encoded.thumb1x),
    encoded.thumb2x ? batch.writeFile(`files/${key}/thumb-2x.webp`, encoded.thumb2x) : `files/${key}/full.webp`,
  ]);
  const record: WebRecord = { full, thumb1x, thumb2x, thumbSize: WEB_IMAGES.thumbSize };
  return { key, record };
}

/** The web images of `records`' pictures: read when they are there, else made from each PNG. */
export async function runWebImages(input: {
  store: AtlasStore;
  records: readonly VisualRecord[];
  progress?: Progress;
  signal?: AbortSignal;
}): Promise<{ images: Map<string, WebRecord>; computed: number }> {
  const { store } = input;
  const images = new Map<string, WebRecord>();
  let computed = 0;
  // Decode + 3 encodes in libvips: two at once keep both cores busy (no engine runs beside this).
  const queue = new PQueue({ concurrency: 2 });
  await Promise.all(
    input.records.map((record) =>
      queue.add(async () => {
        input.signal?.throwIfAborted();
        if (!record.image) return input.progress?.tick();
        let web = await store.readComplete(webKey({ viz: record.key }), webRecordSchema, webFiles);
        if (!web) {
          const batch = store.batch();
          const written = await writeWebImages(batch, record.key, await encodeWebImages(await decodeRgb(await readFile(store.path(record.image)))));
          await batch.commit([written]);
          web = written.record;
          computed++;
        }
        images.set(record.key, web);
        input.progress?.tick();
      }),
    ),
  );
  return { images, computed };
}
