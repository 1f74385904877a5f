import { z } from 'zod';

/**
 * atlas.json: the only contract between the pipeline and the site (and the diff).
 * Every path in it is relative to the atlas folder (output/<atlas-id>/).
 * Bump ATLAS_SCHEMA_VERSION on any breaking change.
 */
export const ATLAS_SCHEMA_VERSION = 1;

const relativePath = z.string().min(1);

export const filterFlagsSchema = z.object({
  /** The objective never rose above its start, or the gradient was zero. */
  dead: z.boolean(),
  /** NaN/Inf appeared; the filter was retried with a lower learning rate or marked failed. */
  diverged: z.boolean(),
  /** The visualisation has little pixel variation (std of the image below a threshold). */
  lowContrast: z.boolean(),
  /** Fraction of pixels clipped to 0 or 1 at the end of optimisation. */
  clippedFraction: z.number(),
});

export const topImageSchema = z.object({
  /** Dataset-relative file name. */
  file: z.string(),
  label: z.string().optional(),
  classIndex: z.number().int().optional(),
  mean: z.number(),
  max: z.number(),
  /** Location of the max activation in the layer's grid, and that grid's size. */
  at: z.object({ y: z.number().int(), x: z.number().int(), height: z.number().int(), width: z.number().int() }),
  /** WebP crop around the most active region (receptive field), and a small thumbnail of the whole image. */
  crop: relativePath,
  thumb: relativePath,
});

export const filterStatsSchema = z.object({
  mean: z.number(),
  std: z.number(),
  max: z.number(),
  /** Fraction of dataset images whose max activation of this filter is above zero. */
  activeFraction: z.number(),
});

export const filterSchema = z.object({
  filter: z.number().int().nonnegative(),
  /** Content hash of everything that determines this filter's visualisation. */
  key: z.string(),
  status: z.enum(['ok', 'dead', 'failed']),
  /** Full visualisation PNG and WebP thumbnail; absent when status is failed. */
  image: relativePath.optional(),
  thumb: relativePath.optional(),
  /** Objective reached by the visualisation (mean activation of the filter). */
  activation: z.number(),
  seconds: z.number(),
  flags: filterFlagsSchema,
  stats: filterStatsSchema.optional(),
  /**
   * activation / the highest per-image mean activation of this filter over the dataset (both are
   * spatial means): above 1, the visualisation excites the filter more than any dataset image.
   */
  superstimulus: z.number().optional(),
  top: z.array(topImageSchema).optional(),
  /** Class histogram of the top images, most frequent first. */
  labels: z.array(z.object({ label: z.string(), count: z.number().int() })).optional(),
});

const methodSchema = z.object({ description: z.string(), params: z.record(z.string(), z.unknown()) });

export const layerSchema = z.object({
  name: z.string(),
  /** The method this layer's filters were visualised with (the atlas method plus the layer's overrides). */
  method: methodSchema.optional(),
  /** Position in the model graph (torchvision: the features index). */
  index: z.number().int(),
  kind: z.string(),
  channels: z.number().int().positive(),
  /** Receptive field of one unit of this layer in input pixels. */
  receptiveField: z.number().int().positive().optional(),
  filters: z.array(filterSchema),
  /**
   * Per dataset image per channel mean activation, float32 little-endian,
   * images x channels, row-major, in dataset.images order. Used by diff.
   */
  datasetMeans: relativePath.optional(),
});

export const probeSchema = z.object({
  id: z.string(),
  /** The probed photo (copied into the atlas) and its source path. */
  image: relativePath,
  source: z.string(),
  layer: z.string(),
  chart: relativePath,
  means: z.array(z.number()),
  top: z.array(z.object({ filter: z.number().int(), mean: z.number(), label: z.string().optional() })),
});

/**
 * What an incomplete merged atlas lacks (`filter-atlas merge` of shards, some missing or unfinished):
 * the filters without a picture, per layer; whether the dataset scan with its examples and the
 * probes (one unit of work, run by one shard) is missing; and the shards whose work is missing, as
 * "K/N", so that rerunning exactly those completes the atlas.
 */
export const missingSchema = z.object({
  filters: z.array(z.object({ layer: z.string(), filters: z.array(z.number().int().nonnegative()) })),
  dataset: z.boolean(),
  probes: z.array(z.string()),
  shards: z.array(z.string()),
});

export const atlasSchema = z.object({
  schemaVersion: z.literal(ATLAS_SCHEMA_VERSION),
  id: z.string(),
  title: z.string(),
  /** ISO date of the last build that changed anything. */
  createdAt: z.string(),
  complete: z.boolean(),
  /** Only in an incomplete merged atlas: what is missing and which shards to rerun. */
  missing: missingSchema.optional(),
  model: z.object({
    name: z.string(),
    /** How the config named the model: a built-in name or a path (what `diff` loads again). */
    spec: z.string(),
    version: z.string(),
    format: z.string(),
    architecture: z.string().optional(),
    weightsDigest: z.string(),
    inputSize: z.tuple([z.number().int(), z.number().int()]),
  }),
  engine: z.object({ name: z.string(), device: z.string() }),
  /** The method's parameters and a sentence describing the objective. */
  method: methodSchema,
  dataset: z
    .object({
      name: z.string(),
      digest: z.string(),
      /** Dataset-relative file names of the images that were scanned, in scan order. */
      images: z.array(z.string()),
      skipped: z.array(z.object({ file: z.string(), reason: z.string() })),
      scanSeconds: z.number().optional(),
    })
    .optional(),
  layers: z.array(layerSchema),
  probes: z.array(probeSchema),
});

export type Atlas = z.infer<typeof atlasSchema>;
export type AtlasLayer = z.infer<typeof layerSchema>;
export type AtlasFilter = z.infer<typeof filterSchema>;
export type FilterFlags = z.infer<typeof filterFlagsSchema>;
export type FilterStats = z.infer<typeof filterStatsSchema>;
export type TopImage = z.infer<typeof topImageSchema>;
export type AtlasProbe = z.infer<typeof probeSchema>;
export type AtlasMissing = z.infer<typeof missingSchema>;
