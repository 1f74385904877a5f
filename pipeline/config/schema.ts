import { z } from 'zod';
import { DEFAULT_BATCH_MEMORY_MIB } from '../schema/batch.js';
import { DEVICE_NAMES } from '../schema/device.js';
import { MAX_STEM } from '../util/file-names.js';
import { scanBatchSchema, threadsSchema } from './bounds.js';

/**
 * The YAML config as written by a user, fully defaulted after parsing.
 * Method parameters are checked separately (pipeline/config/load.ts) so that a layer's
 * overrides merge over the global ones before validation.
 */
const filterSelection = z.union([
  z.literal('all'),
  z.array(z.number().int().nonnegative()).min(1),
  z.string().regex(/^\s*\d+(\s*-\s*\d+)?(\s*,\s*\d+(\s*-\s*\d+)?)*\s*$/, 'expected "all", or indices and ranges like "0-15,20"'),
]);

const methodBlock = z.record(z.string(), z.unknown());
/** One method block, or a list of them (several methods in one atlas); checked by kind in load.ts. */
const methodOverrides = z.union([methodBlock, z.array(methodBlock).min(1)]);

const layerEntry = z.union([
  z.union([z.string().min(1), z.number().int().nonnegative()]).transform((layer) => ({ layer: String(layer), filters: 'all' as const, method: {} })),
  z.strictObject({
    layer: z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String),
    filters: filterSelection.default('all'),
    /** Method overrides for this layer only (e.g. a lighter schedule for a 1000-filter layer). */
    method: methodOverrides.default({}),
  }),
]);

/**
 * Atlas ids that name something else in the output folder: `<output>/diffs` holds the diffs,
 * `histories` the histories, `model-store` the weights the atlases were built with.
 */
export const RESERVED_ATLAS_IDS: readonly string[] = ['diffs', 'histories', 'model-store'];

/**
 * The one rule for an atlas id, the folder `<output>/<id>`: a config's `atlas:` (or its file name) and
 * a shard manifest's `atlas` (which merge turns into a folder) both pass it.
 */
export const atlasIdSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/, 'expected letters, digits, ".", "_" or "-"');

/** True for an id that names something else in the output folder (any case: file systems may ignore it). */
export function isReservedAtlasId(id: string): boolean {
  return RESERVED_ATLAS_IDS.includes(id.toLowerCase());
}

export const configSchema = z.strictObject({
  /** Folder name under the output folder; defaults to the config file's name. */
  atlas: atlasIdSchema.optional(),
  title: z.string().optional(),
  /** A built-in model name or a path (.onnx, model.json, .safetensors with arch), relative to the config file. */
  model: z.string().min(1),
  arch: z.enum(['vgg16_bn', 'vgg16']).optional(),
  engine: z.enum(['ort', 'tfjs']).default('ort'),
  /** Where the engine runs: auto tries cuda, then webgpu, then cpu (`--device` overrides it). */
  device: z.enum(DEVICE_NAMES).default('auto'),
  /** Intra-op threads of the engine; default: every core. At most MAX_THREADS (bounds.ts). */
  threads: threadsSchema.optional(),
  seed: z.number().int().nonnegative().default(0),
  /** Where atlases are written, relative to the config file like every path in it; default: `output` in the current folder. */
  output: z.string().min(1).optional(),
  layers: z.array(layerEntry).min(1),
  method: methodOverrides.default({}),
  batch: z
    .strictObject({
      /** Filters optimised together; "auto" picks from memoryMiB. */
      size: z.union([z.literal('auto'), z.number().int().positive()]).default('auto'),
      memoryMiB: z.number().int().positive().default(DEFAULT_BATCH_MEMORY_MIB),
      /** Batches running at once (p-queue); 1 is best on CPU since the engine uses every core. */
      concurrency: z.number().int().positive().default(1),
    })
    .prefault({}),
  dataset: z
    .strictObject({
      /** An asset name (imagenet-sample) or a folder of images, relative to the config file. */
      source: z.string().min(1).default('imagenet-sample'),
      /** Scan only the first N images (sorted by name). */
      limit: z.number().int().positive().optional(),
      topK: z.number().int().positive().max(64).default(9),
      /** Photos per forward call of the scan; at most MAX_SCAN_BATCH (bounds.ts) and within memory (atlas/memory.ts). */
      batchSize: scanBatchSchema.default(16),
    })
    .nullable()
    .default(null),
  probes: z
    .array(
      z.strictObject({
        /** An image path relative to the config file, or <asset>/<file> such as photos/chelsea.png. */
        image: z.string().min(1),
        layer: z.union([z.string().min(1), z.number().int().nonnegative()]).transform(String),
        top: z.number().int().positive().default(5),
        id: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).max(MAX_STEM).optional(),
      }),
    )
    .default([]),
});

export type RawConfig = z.infer<typeof configSchema>;
export type FilterSelectionConfig = z.infer<typeof filterSelection>;
