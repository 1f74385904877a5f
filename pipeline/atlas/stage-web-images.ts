/**
 * Build stage: web versions of every visualisation, derived from its PNG (the lossless original):
 * a high-quality WebP for the filter page and small WebP thumbnails at 1x and 2x for layer grids.
 * Keyed by the visualisation's own key, so they follow the picture and a new thumbnail size
 * (CODE_VERSIONS.web) never recomputes a visualisation.
 */
import { readFile } from 'node:fs/promises';
import PQueue from 'p-queue';
import { encodeWebImages, WEB_IMAGES } from '../render/images.js';
import type { Progress } from '../util/progress.js';
import { webKey } from './keys.js';
import { webFiles, webRecordSchema, type WebRecord } from './records.js';
import type { AtlasStore } from './store.js';
import type { VisualRecord } from './stage-visualize.js';

export async function runWebImages(input: {
  store: AtlasStore;
  records: readonly VisualRecord[];
  progress?: Progress;
  signal?: AbortSignal;
}): Promise<{ images: Map<string, WebRecord>; computed: number }> {
  const { store } = input;
  const images = new Map<string, WebRecord>();
  let computed = 0;
  // Decode + 3 encodes in libvips: two at once keep both cores busy.
  const queue = new PQueue({ concurrency: 2 });
  await Promise.all(
    input.records.map((record) =>
      queue.add(async () => {
        input.signal?.throwIfAborted();
        if (!record.image) return input.progress?.tick();
        const key = webKey({ viz: record.key });
        let web = await store.readComplete(key, webRecordSchema, webFiles);
        if (!web) {
          const encoded = await encodeWebImages(await readFile(store.path(record.image)));
          web = {
            full: await store.writeFile(`files/${key}/full.webp`, encoded.full),
            thumb1x: await store.writeFile(`files/${key}/thumb-1x.webp`, encoded.thumb1x),
            thumb2x: encoded.thumb2x ? await store.writeFile(`files/${key}/thumb-2x.webp`, encoded.thumb2x) : `files/${key}/full.webp`,
            thumbSize: WEB_IMAGES.thumbSize,
          };
          await store.writeRecord(key, web);
          computed++;
        }
        images.set(record.key, web);
        input.progress?.tick();
      }),
    ),
  );
  return { images, computed };
}
