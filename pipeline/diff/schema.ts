import { z } from 'zod';

/**
 * diff.json: the contract between `filter-atlas diff` and the site's diff pages.
 * Every path in it is relative to the folder that holds diff.json.
 * Bump DIFF_SCHEMA_VERSION on any breaking change.
 */
export const DIFF_SCHEMA_VERSION = 2;

/**
 * Version 2 added `dead`: the unit is dead in both versions (score 0, nothing to compare). Shown as
 * "both dead" (FILTER_STATUS_LABELS).
 */
export const FILTER_STATUSES = ['unchanged', 'drifted', 'changed', 'died', 'revived', 'dead'] as const;
export type FilterStatus = (typeof FILTER_STATUSES)[number];

/** How a status reads in tables and badges. */
export const FILTER_STATUS_LABELS: Record<FilterStatus, string> = { unchanged: 'unchanged', drifted: 'drifted', changed: 'changed', died: 'died', revived: 'revived', dead: 'both dead' };

const relativePath = z.string().min(1);

/** The names of signals a diff may leave out, as the table and the site show them. */
export const SIGNAL_NAMES = { cross: 'cross-activation', ssim: 'SSIM' } as const;

const atlasRefSchema = z.object({
  id: z.string(),
  title: z.string(),
  /** The atlas folder, relative to the diff folder. */
  path: z.string(),
  createdAt: z.string(),
  model: z.object({ name: z.string(), spec: z.string(), version: z.string(), weightsDigest: z.string() }),
  engine: z.string(),
});

const topImageSchema = z.object({
  file: z.string(),
  label: z.string().optional(),
  mean: z.number(),
  /** Thumbnail of the dataset image, when the atlas has one for it. */
  thumb: relativePath.optional(),
});

/** One side (A or B) of a compared unit. */
const sideSchema = z.object({
  filter: z.number().int().nonnegative(),
  status: z.enum(['ok', 'dead', 'failed']),
  dead: z.boolean(),
  /**
   * Visualisation PNG and the small picture of the unit's row (the 1x grid thumbnail of the web
   * images, else the PNG); absent when the filter failed.
   */
  image: relativePath.optional(),
  thumb: relativePath.optional(),
  /** Objective the visualisation reached when the atlas was built. */
  activation: z.number(),
  /** Mean and std over the dataset of the per-image mean activation. */
  datasetMean: z.number(),
  datasetStd: z.number(),
  /** Top-k dataset images by mean activation, best first. */
  top: z.array(topImageSchema),
});

export const signalsSchema = z.object({
  /** Pearson correlation of the two units' per-image mean activations over the shared dataset. */
  correlation: z.number(),
  /** |top-k of A ∩ top-k of B| / k. */
  topOverlap: z.number(),
  /**
   * Cross-activation: each model run on each visualisation PNG at the PNG's own size, objective =
   * mean of the unit's channel. `bOnA` is model B's unit on A's image, and so on. Absent when a
   * visualisation is missing.
   */
  cross: z
    .object({
      aOnA: z.number(),
      bOnA: z.number(),
      aOnB: z.number(),
      bOnB: z.number(),
      /** (bOnA - mean_B) / (aOnA - mean_A): B's response to A's image relative to A's own, above the dataset mean. */
      responseBtoA: z.number().nullable(),
      responseAtoB: z.number().nullable(),
    })
    .optional(),
  /** SSIM of the two visualisations (B resized to A's size when they differ). */
  ssim: z.number().optional(),
});

/** Each signal turned into a distance in [0, 1] (0 = same), and their weighted mean. */
export const componentsSchema = z.object({
  correlation: z.number(),
  topOverlap: z.number(),
  cross: z.number().optional(),
  ssim: z.number().optional(),
});

export const filterDiffSchema = z.object({
  layer: z.string(),
  /** 1 = the most changed unit of the whole diff. */
  rank: z.number().int().positive(),
  /** The change score in [0, 1]; see `scoring`. */
  score: z.number(),
  status: z.enum(FILTER_STATUSES),
  /** B's unit differs from A's when the layer's channels were matched as permuted. */
  a: sideSchema,
  b: sideSchema,
  signals: signalsSchema,
  components: componentsSchema,
});

export const layerDiffSchema = z.object({
  name: z.string(),
  channels: z.number().int().positive(),
  /** Units compared (in both atlases' filter selections after matching). */
  compared: z.number().int().nonnegative(),
  /** Selected in A but whose matched unit B did not visualise. */
  notCompared: z.array(z.number().int()),
  counts: z.record(z.enum(FILTER_STATUSES), z.number().int().nonnegative()),
  meanScore: z.number(),
  maxScore: z.number(),
  /** changed: a unit changed, died or revived; drifted: units drifted and none changed; else unchanged. */
  status: z.enum(['unchanged', 'drifted', 'changed']),
  /** True when unit matching found B's channels reordered. */
  permuted: z.boolean(),
  /** Every unit whose match is not itself: A channel -> B channel, with their correlation. */
  matches: z.array(z.object({ a: z.number().int(), b: z.number().int(), correlation: z.number() })),
  /** Mean correlation of matched units, and of units at the same index (what matching gained). */
  matchedCorrelation: z.number(),
  identityCorrelation: z.number(),
});

export const summarySchema = z.object({
  unchanged: z.number().int().nonnegative(),
  drifted: z.number().int().nonnegative(),
  changed: z.number().int().nonnegative(),
  died: z.number().int().nonnegative(),
  revived: z.number().int().nonnegative(),
  /** Dead in both versions. */
  dead: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  /** Layers with a unit that changed, died or revived, in model order. */
  changedLayers: z.array(z.string()),
  /** Layers whose units drifted, none changed. */
  driftedLayers: z.array(z.string()),
  /** Layers whose units were matched as permuted. */
  permutedLayers: z.array(z.string()),
});

export const diffSchema = z.object({
  schemaVersion: z.literal(DIFF_SCHEMA_VERSION),
  createdAt: z.string(),
  a: atlasRefSchema,
  b: atlasRefSchema,
  dataset: z.object({ name: z.string(), digest: z.string(), images: z.number().int().nonnegative() }),
  /** How the score and the statuses are computed (weights, thresholds), in words and numbers. */
  scoring: z.object({
    description: z.string(),
    weights: z.record(z.string(), z.number()),
    thresholds: z.object({ drifted: z.number(), changed: z.number() }),
    matching: z.object({ description: z.string(), minCorrelation: z.number(), minGain: z.number() }),
  }),
  summary: summarySchema,
  layers: z.array(layerDiffSchema),
  /** Every compared unit, most changed first. */
  filters: z.array(filterDiffSchema),
  /** Things that make some signals less meaningful (different engines or method parameters). */
  warnings: z.array(z.string()),
  /**
   * Signals (columns) the diff left out for every unit, and why: `cross` needs both models' weights
   * (the recorded spec, the output's model store or --model-a/--model-b); without them the score is
   * the renormalised mean of the other signals. Absent in diffs written before this field.
   */
  omitted: z.array(z.object({ signal: z.enum(['cross', 'ssim']), reason: z.string() })).default([]),
  seconds: z.number(),
});

export type AtlasDiff = z.infer<typeof diffSchema>;
export type FilterDiff = z.infer<typeof filterDiffSchema>;
export type LayerDiff = z.infer<typeof layerDiffSchema>;
export type DiffSummary = z.infer<typeof summarySchema>;
export type Signals = z.infer<typeof signalsSchema>;
export type Components = z.infer<typeof componentsSchema>;
export type DiffSide = z.infer<typeof sideSchema>;
