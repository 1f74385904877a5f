/**
 * The keyed records of the atlas folder (records/<key>.json), one per finished artifact, as schemas,
 * plus the files each one needs. A record is reused only when it parses, matches its schema and every
 * file it names is there: a truncated record, a record of an older format or a deleted `files/`
 * folder costs a recomputation, never a build that stops or an atlas that points at nothing.
 */
import { z } from 'zod';
import { isPlainRelativePath } from '../util/paths.js';
import { RECORD_KEY_PATTERN } from './keys.js';
import { filterSchema, filterStatsSchema, probeModelSchema, probeSchema, topImageSchema, webImagesSchema } from '../schema/atlas.js';

/** A record's key as contentKey makes it (keys.ts): what a shard's manifest may name. */
export const recordKeySchema = z.string().regex(RECORD_KEY_PATTERN, 'expected a record key: <kind>-<20 hex digits>, as keys.ts makes them');

/**
 * The rule for a file a record names, as build writes them (`files/<key>/...`, AtlasStore): a plain
 * relative path (paths.ts) under files/. A record read from a folder this process did not write is
 * refused when one of its files breaks it.
 */
export function isRecordFile(path: string): boolean {
  return isPlainRelativePath(path) && path.startsWith('files/');
}

/** A picture's record: its PNG and its fields (web images have records of their own; the 160 px `thumb` of atlases built before viz code version 4 is no longer written). */
export const visualRecordSchema = filterSchema
  .omit({ stats: true, superstimulus: true, top: true, labels: true, thumb: true })
  .extend({ startActivation: z.number() });
export type VisualRecord = z.infer<typeof visualRecordSchema>;

const topEntrySchema = z.object({ image: z.number().int().nonnegative(), mean: z.number(), max: z.number(), argmax: z.number().int().nonnegative() });

const layerScanRecordSchema = z.object({
  layer: z.string(),
  channels: z.number().int().positive(),
  height: z.number().int().positive(),
  width: z.number().int().positive(),
  /** Atlas-relative path of images x channels float32 means. */
  means: z.string().min(1),
  /** Per filter; null for a channel whose activations were not finite (it then has no top images either). */
  stats: z.array(filterStatsSchema.nullable()),
  top: z.array(z.array(topEntrySchema)),
});
export type LayerScanRecord = z.infer<typeof layerScanRecordSchema>;

export const scanRecordSchema = z.object({
  key: z.string(),
  images: z.array(z.string()),
  skipped: z.array(z.object({ file: z.string(), reason: z.string() })),
  seconds: z.number(),
  layers: z.array(layerScanRecordSchema),
});
export type ScanRecord = z.infer<typeof scanRecordSchema>;

export const examplesRecordSchema = z.object({
  top: z.array(topImageSchema),
  labels: z.array(z.object({ label: z.string(), count: z.number().int() })),
});
export type FilterExamplesRecord = z.infer<typeof examplesRecordSchema>;

export const probeRecordSchema = probeSchema;

/** Atlas-relative files a visualisation record names. */
export function visualFiles(record: VisualRecord): string[] {
  return record.image === undefined ? [] : [record.image];
}

export function scanFiles(record: ScanRecord): string[] {
  return record.layers.map((layer) => layer.means);
}

export function examplesFiles(record: FilterExamplesRecord): string[] {
  return record.top.flatMap((top) => [top.crop, top.thumb]);
}

export function probeFiles(record: z.infer<typeof probeRecordSchema>): string[] {
  return [record.image, record.chart];
}

export const webRecordSchema = webImagesSchema;
export type WebRecord = z.infer<typeof webRecordSchema>;

export function webFiles(record: WebRecord): string[] {
  return [record.full, record.thumb1x, record.thumb2x];
}

/** One filter's mean attribution to every channel of the earlier layer, over its top images. */
export const connectionsRecordSchema = z.object({
  layer: z.string(),
  filter: z.number().int().nonnegative(),
  from: z.string(),
  /** Dataset indices of the images averaged over. */
  images: z.array(z.number().int().nonnegative()),
  /** Per channel of `from`: mean over the images of activation x gradient, summed over space. */
  values: z.array(z.number()),
  seconds: z.number(),
});
export type ConnectionsRecord = z.infer<typeof connectionsRecordSchema>;

export const probeModelRecordSchema = probeModelSchema;

export function probeModelFiles(record: z.infer<typeof probeModelRecordSchema>): string[] {
  return [record.file, ...(record.fp16 ? [record.fp16.file] : [])];
}
