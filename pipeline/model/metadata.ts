/**
 * What filter-atlas keeps inside a TensorFlow.js model.json it writes (`userDefinedMetadata.filterAtlas`):
 * the model's preprocessing, name and labels (a model.json alone cannot say that darknet-tiny takes
 * RGB in [0, 1] rather than ImageNet-normalised input), and, for a variant, what it was made from and how.
 * TensorFlow.js itself ignores the field, so the folder stays a plain tfjs layers model.
 */
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { userError } from '../errors.js';

export const METADATA_KEY = 'filterAtlas';

const triple = z.tuple([z.number(), z.number(), z.number()]);

export const preprocessingSchema = z.strictObject({
  inputSize: z.tuple([z.number().int().positive(), z.number().int().positive()]),
  mean: triple,
  std: triple,
  resize: z.enum(['stretch', 'center-crop']),
});

export const variantOperationSchema = z.discriminatedUnion('kind', [
  z.strictObject({
    kind: z.literal('permute'),
    /** The Conv2D whose output channels were reordered. */
    layer: z.string(),
    /** The BatchNormalization layers that followed it (reordered the same way). */
    batchNorms: z.array(z.string()),
    /** The next Conv2D, whose input channels were reordered to match. */
    next: z.string(),
    /** New channel j holds old channel order[j]; so old channel i is now at the j where order[j] = i. */
    order: z.array(z.number().int().nonnegative()),
  }),
  z.strictObject({
    kind: z.literal('perturb'),
    layer: z.string(),
    /** Noise rms relative to the kernel's rms: the noise's L2 norm is about scale x the kernel's. */
    scale: z.number().nonnegative(),
    /** Measured ||noise|| / ||kernel||. */
    relativeNorm: z.number(),
  }),
  z.strictObject({
    kind: z.literal('quantize'),
    scheme: z.literal('int8-symmetric-per-output-channel'),
    /** Every kernel that was quantised and dequantised. */
    kernels: z.array(z.string()),
    /** Largest |w - dequantised w| over all kernels. */
    maxAbsError: z.number(),
  }),
]);

export const modelMetadataSchema = z.object({
  name: z.string().optional(),
  preprocessing: preprocessingSchema.optional(),
  labels: z.array(z.string()).optional(),
  labelWnids: z.array(z.string()).optional(),
  variant: z
    .object({
      of: z.object({ spec: z.string(), name: z.string(), version: z.string(), weightsDigest: z.string() }),
      seed: z.number().int().nonnegative(),
      operations: z.array(variantOperationSchema),
    })
    .optional(),
});

export type ModelMetadata = z.infer<typeof modelMetadataSchema>;
export type VariantOperation = z.infer<typeof variantOperationSchema>;

/** The filterAtlas metadata of a parsed model.json, or undefined when it has none. */
export function metadataOf(parsed: unknown, file: string): ModelMetadata | undefined {
  const user = (parsed as { userDefinedMetadata?: Record<string, unknown> } | null)?.userDefinedMetadata;
  const raw = user && typeof user === 'object' ? user[METADATA_KEY] : undefined;
  if (raw === undefined) return undefined;
  const result = modelMetadataSchema.safeParse(raw);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw userError({
      where: `${file} userDefinedMetadata.${METADATA_KEY}.${issue.path.join('.')}`,
      expected: 'the metadata filter-atlas writes (name, preprocessing, labels, variant)',
      received: issue.message,
      fix: 'Remove the field, or write the variant again with `filter-atlas variant`.',
    });
  }
  return result.data;
}

/** Reads the metadata of a model.json file (undefined when absent). */
export async function readModelMetadata(modelJson: string): Promise<ModelMetadata | undefined> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(await readFile(modelJson, 'utf8'));
  } catch {
    // The loader reports unreadable model.json files with its own message.
    return undefined;
  }
  return metadataOf(parsed, modelJson);
}
