import { z } from 'zod';

/**
 * atlas.json: the only contract between the pipeline and the site (and the diff).
 * Every path in it is relative to the atlas folder (output/<atlas-id>/).
 * Bump ATLAS_SCHEMA_VERSION on any change a reader of the current version cannot read. Version 2 only
 * adds optional fields (web images, dominant labels, connected filters, the browser probe model), so
 * a version 1 atlas still reads as one without them: readers accept SUPPORTED_ATLAS_VERSIONS. Layer
 * `aliases` came later within version 2: optional, and a reader without them drops them (zod strips
 * unknown keys) and shows the node name, as for an atlas written before them.
 */
export const ATLAS_SCHEMA_VERSION = 2;
export const SUPPORTED_ATLAS_VERSIONS = [1, 2] as const;

const relativePath = z.string().min(1);

export const filterFlagsSchema = z.object({
  /** The objective did not rise, relative to its layer (docs/design.md 2.4), or the gradient was zero. */
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

/** The label a filter's top images support, with its evidence (pipeline/labels/dominant.ts states the test). */
export const dominantLabelSchema = z.object({
  label: z.string(),
  wnid: z.string().optional(),
  /** Labelled top images under the label, of `of`. */
  count: z.number().int().nonnegative(),
  of: z.number().int().positive(),
  /** Fraction of the dataset's labelled images under the label. */
  baseRate: z.number(),
  /** One-sided binomial tail of `count` of `of` at `baseRate`. */
  p: z.number(),
  /** Broader labels (WordNet hypernyms below a base rate of 1/2), most specific first. */
  broader: z.array(z.string()),
});

/** Web versions of a visualisation (the PNG stays the lossless original). */
export const webImagesSchema = z.object({
  /** High-quality WebP at the visualisation's own size. */
  full: relativePath,
  /**
   * Thumbnails for a grid tile at 1x and 2x pixel density, and the 1x size in CSS pixels. thumb2x
   * is `full` itself when the picture is no larger than a 2x thumbnail.
   */
  thumb1x: relativePath,
  thumb2x: relativePath,
  thumbSize: z.number().int().positive(),
});

/** One connected filter and its mean attribution (pipeline/atlas/stage-connections.ts). */
export const connectionSchema = z.object({ filter: z.number().int().nonnegative(), value: z.number() });
export const connectionsSchema = z.object({
  /** The other layer: the previous visualised layer (`from`) or the next one (`to`). */
  layer: z.string(),
  /** Largest positive contributions first, then the most negative first. */
  positive: z.array(connectionSchema),
  negative: z.array(connectionSchema),
});

/** Absent in atlases written before the lucid method existed: those are `article`. */
export const methodKindSchema = z.enum(['article', 'lucid']);

const methodSchema = z.object({ kind: methodKindSchema.optional(), description: z.string(), params: z.record(z.string(), z.unknown()) });

/** A visualisation's own fields: the filter's main picture and its pictures by other methods share them. */
const pictureFields = {
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
};

/**
 * A filter's picture by one more method of its layer (layer.otherMethods), shown beside the main one:
 * the same fields as the filter's own picture, and its superstimulus ratio against the same dataset.
 */
export const filterViewSchema = z.object({
  kind: methodKindSchema,
  ...pictureFields,
  superstimulus: z.number().optional(),
});

export const filterSchema = z.object({
  filter: z.number().int().nonnegative(),
  ...pictureFields,
  stats: filterStatsSchema.optional(),
  /**
   * activation / the highest per-image mean activation of this filter over the dataset (both are
   * spatial means): above 1, the visualisation excites the filter more than any dataset image.
   */
  superstimulus: z.number().optional(),
  top: z.array(topImageSchema).optional(),
  /** Class histogram of the top images, most frequent first. */
  labels: z.array(z.object({ label: z.string(), count: z.number().int() })).optional(),
  /** v2: WebP versions of the visualisation. */
  web: webImagesSchema.optional(),
  /** v2: the label the top images support (null: no dominant class; absent: no labelled images). */
  dominant: dominantLabelSchema.nullable().optional(),
  /**
   * v2: filters of the previous visualised layer K that contribute most to this one, by attribution
   * over dataset images: mean of activation_K[i] * d(mean activation of this filter) / d activation_K[i].
   */
  inputs: connectionsSchema.extend({ images: z.string() }).optional(),
  /** v2: filters of the next visualised layer that this filter contributes to most (the same numbers read the other way). */
  feeds: connectionsSchema.optional(),
  /** The filter's pictures by the layer's other methods, in layer.otherMethods order. */
  others: z.array(filterViewSchema).optional(),
});

export const layerSchema = z.object({
  /** The model's own node name (ONNX: `/features/features.4/block/block.3/Add`), what the engine runs. */
  name: z.string(),
  /**
   * Other names that address the layer, as `filter-atlas layers` lists them (an ONNX module path such
   * as `features.4`, a torchvision features index); the site shows the shortest as the layer's name.
   * Absent when there are none, or in an atlas written before aliases were recorded.
   */
  aliases: z.array(z.string()).optional(),
  /** The method this layer's filters were visualised with (the atlas method plus the layer's overrides). */
  method: methodSchema.optional(),
  /** More methods the layer's filters were visualised with (config: a list of method blocks); filters[].others holds their pictures. */
  otherMethods: z.array(methodSchema).optional(),
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

/** v2: the model's forward graph up to the last visualised layer, for probing a photo in the browser. */
export const probeModelSchema = z.object({
  /** ONNX, float32 weights: RGB in [0, 1] NCHW at inputSize, batch dynamic; preprocessing is inside the graph. */
  file: relativePath,
  bytes: z.number().int().positive(),
  /** The same graph with float16 weights cast to float32 at load (half the download), when emitted. */
  fp16: z.object({ file: relativePath, bytes: z.number().int().positive(), maxRelativeError: z.number() }).optional(),
  /** Graph output name of each visualised layer. */
  outputs: z.array(z.object({ layer: z.string(), output: z.string() })),
  input: z.string(),
  inputSize: z.tuple([z.number().int(), z.number().int()]),
  resize: z.enum(['stretch', 'center-crop']),
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
  schemaVersion: z.union([z.literal(1), z.literal(2)]),
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
  /**
   * `device`: what ran the maths (provider or backend, version, threads; every record key holds it);
   * `deviceKind`: cpu, webgpu or cuda (absent in atlases built before devices could be chosen).
   */
  engine: z.object({ name: z.string(), device: z.string(), deviceKind: z.enum(['cpu', 'webgpu', 'cuda']).optional() }),
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
  probeModel: probeModelSchema.optional(),
  /** v2: how the connected filters were measured (images per filter, seconds), when they were. */
  connections: z.object({ images: z.string(), seconds: z.number(), pairs: z.array(z.object({ layer: z.string(), from: z.string() })) }).optional(),
});

export type Atlas = z.infer<typeof atlasSchema>;
export type AtlasLayer = z.infer<typeof layerSchema>;
export type AtlasFilter = z.infer<typeof filterSchema>;
export type AtlasFilterView = z.infer<typeof filterViewSchema>;
export type MethodKindName = z.infer<typeof methodKindSchema>;
export type FilterFlags = z.infer<typeof filterFlagsSchema>;
export type FilterStats = z.infer<typeof filterStatsSchema>;
export type TopImage = z.infer<typeof topImageSchema>;
export type AtlasProbe = z.infer<typeof probeSchema>;
export type DominantLabelEntry = z.infer<typeof dominantLabelSchema>;
export type WebImages = z.infer<typeof webImagesSchema>;
export type Connections = z.infer<typeof connectionsSchema>;
export type ProbeModel = z.infer<typeof probeModelSchema>;
export type AtlasMissing = z.infer<typeof missingSchema>;
