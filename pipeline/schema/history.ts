import { z } from 'zod';

/**
 * history.json: the contract between `filter-atlas history` and the site's history pages. A history
 * is two or more atlases of one architecture in order (versions 0..n-1: checkpoints, nightly
 * fine-tunes, releases); every consecutive pair is diffed (pipeline/diff), and each filter's unit is
 * followed from version to version through the diffs' unit matching (chained permutations).
 * Every path in it is relative to the folder that holds history.json.
 * Bump HISTORY_SCHEMA_VERSION on any breaking change.
 */
export const HISTORY_SCHEMA_VERSION = 1;

/** A step's status of a unit, as the diff classifies it (diff/score.ts classify); dead: dead in both versions. */
export const STEP_STATUSES = ['unchanged', 'drifted', 'changed', 'died', 'revived', 'dead'] as const;

const versionSchema = z.object({
  id: z.string(),
  title: z.string(),
  /** The atlas folder, relative to the history folder. */
  path: z.string(),
  createdAt: z.string(),
  model: z.object({ name: z.string(), spec: z.string(), version: z.string(), weightsDigest: z.string() }),
});

const countsSchema = z.record(z.enum(STEP_STATUSES), z.number().int().nonnegative());

/** The diff of version `from` to `from + 1`, in brief. */
const stepSchema = z.object({
  from: z.number().int().nonnegative(),
  to: z.number().int().positive(),
  /** Signals the step's diff left out for every unit (e.g. cross-activation without the weights), and why. */
  omitted: z.array(z.object({ signal: z.string(), reason: z.string() })),
  warnings: z.array(z.string()),
});

const layerStepSchema = z.object({
  /** Units compared at this step (matched into the next version's filter selection). */
  compared: z.number().int().nonnegative(),
  counts: countsSchema,
  /** changed: a unit changed, died or revived; drifted: units drifted and none changed; else unchanged. */
  status: z.enum(['unchanged', 'drifted', 'changed']),
  /** True when the step's unit matching found the channels reordered. */
  permuted: z.boolean(),
  meanScore: z.number(),
});

const layerSchema = z.object({
  name: z.string(),
  channels: z.number().int().positive(),
  /** One entry per step (versions - 1). */
  steps: z.array(layerStepSchema),
});

/** One version of a unit: its channel there and its picture (paths relative to the history folder). */
const pointSchema = z.object({
  filter: z.number().int().nonnegative(),
  status: z.enum(['ok', 'dead', 'failed']),
  dead: z.boolean(),
  image: z.string().min(1).optional(),
  thumb: z.string().min(1).optional(),
  datasetMean: z.number(),
});

const filterStepSchema = z.object({
  score: z.number(),
  status: z.enum(STEP_STATUSES),
  /** Pearson correlation of the unit's dataset activations in the two versions. */
  correlation: z.number(),
});

export const historyFilterSchema = z.object({
  layer: z.string(),
  /** The unit's channel in each version, null where it is not followed (not in that version's selection). */
  units: z.array(z.number().int().nonnegative().nullable()),
  /** Its picture in each version it is followed, null elsewhere. */
  points: z.array(pointSchema.nullable()),
  /** Step k compares version k with k + 1; null where the unit is not followed across it. */
  steps: z.array(filterStepSchema.nullable()),
  /** The first version where the unit appears (0, or a later version whose selection reached it first), revived (was dead), died, or changed (a step status changed, died or revived). */
  born: z.number().int().nonnegative(),
  revived: z.number().int().positive().nullable(),
  died: z.number().int().positive().nullable(),
  changed: z.number().int().positive().nullable(),
  /** The largest step score. */
  maxScore: z.number(),
});

export const historySchema = z.object({
  schemaVersion: z.literal(HISTORY_SCHEMA_VERSION),
  name: z.string(),
  createdAt: z.string(),
  versions: z.array(versionSchema).min(2),
  dataset: z.object({ name: z.string(), digest: z.string(), images: z.number().int().nonnegative() }),
  /** How each step's scores and statuses were computed (the diff's scoring block). */
  scoring: z.object({ description: z.string(), thresholds: z.object({ drifted: z.number(), changed: z.number() }) }),
  steps: z.array(stepSchema),
  layers: z.array(layerSchema),
  /** Every followed unit, layers in model order, then by its channel in the first version it appears in. */
  filters: z.array(historyFilterSchema),
  seconds: z.number(),
});

export type AtlasHistory = z.infer<typeof historySchema>;
export type HistoryFilter = z.infer<typeof historyFilterSchema>;
export type HistoryLayer = z.infer<typeof layerSchema>;
export type HistoryPoint = z.infer<typeof pointSchema>;
export type HistoryStepStatus = (typeof STEP_STATUSES)[number];
