import { z } from 'zod';
import { integer, real } from './article-params.js';

/**
 * The `lucid` method's parameters: Lucid's and Lucent's defaults (tensorflow/lucid `optvis/render.py`,
 * `optvis/param/spatial.py`, `optvis/param/color.py`, `optvis/transform.py`; greentfrapp/lucent the same
 * files under `lucent/optvis/`), except where a field says otherwise. docs/design.md section 2.6 has why.
 * Parsing fills the defaults once; no code after this handles a missing option.
 */

/** Lucid's `standard_transforms` scales: 1 + (i - 5) / 50 for i in 0..10, i.e. 0.9 to 1.1. */
export const LUCID_SCALES: readonly number[] = Array.from({ length: 11 }, (_, i) => 1 + (i - 5) / 50);
/** Lucid's `standard_transforms` angles: -10..10 degrees plus five more zeros (a quarter of the draws keep the image upright). */
export const LUCID_ANGLES: readonly number[] = [...Array.from({ length: 21 }, (_, i) => i - 10), 0, 0, 0, 0, 0];

const choices = (min: number, max: number, what: string) =>
  z
    .array(real(min, max), { error: `expected a list of ${what} from ${min} to ${max}` })
    .min(1, { error: `expected a list of at least one ${what}` })
    .max(64, { error: `expected at most 64 ${what}` });

export const robustnessSchema = z
  .object({
    /** Constant border added first, px (Lucid: 12), and its grey level in [0, 1] (Lucid: 0.5). */
    pad: integer(0, 256).default(12),
    padValue: real(0, 1).default(0.5),
    /** First random crop: the image loses `jitter` px of width and height at a random offset (Lucid: 8). */
    jitter: integer(0, 256).default(8),
    /** Random zoom about the centre, one of these factors per step (Lucid: 0.9 to 1.1 in 11 steps). */
    scales: choices(0.25, 4, 'scale factors').default([...LUCID_SCALES]),
    /** Random rotation about the centre, one of these angles in degrees per step (Lucid: -10 to 10, 0 six times). */
    angles: choices(-180, 180, 'angles').default([...LUCID_ANGLES]),
    /** Second random crop after the warps (Lucid: 4). */
    jitterAfter: integer(0, 256).default(4),
  })
  .strict();

export const diversitySchema = z
  .object({
    /** The lower layer whose Gram matrices are compared (Lucent's example: the objective's own layer or one below). */
    layer: z.union([z.string().min(1), z.number().int().nonnegative()], { error: 'expected a layer name or index' }).transform(String),
    /** Weight of the penalty against the objective (Lucent's example: 1e2). */
    weight: real(0, 1e6).default(100),
    /** Images per filter optimised together; the penalty pushes them apart (Lucent's examples: 4). */
    images: integer(2, 16).default(4),
  })
  .strict();

export const lucidParamsSchema = z
  .object({
    /** Side of the picture, px (the 224; Lucid/Lucent default to 128 and Lucent upsamples to 224 for the model). */
    size: integer(16, 2048).default(224),
    /**
     * Adam steps. Lucid/Lucent: thresholds=(512,); ours 128, chosen by the steps curve (README "Steps curve",
     * bench/steps-curve.ts): the fewest steps whose class check is within 2 points of 512 steps' top-1, at a
     * quarter of the time.
     */
    steps: integer(1, 100_000).default(128),
    /** Adam learning rate on the spectrum (Lucid/Lucent: 0.05), no weight decay. */
    learningRate: real(0, 100, { exclusiveMin: true }).default(0.05),
    /** Spectrum scaled by 1 / max(f, 1/side)^decayPower (Lucid: 1). 0: a flat (white) spectrum. */
    decayPower: real(0, 4).default(1),
    /** Std of the start spectrum's normal noise (Lucid: 0.01). */
    initStd: real(0, 10).default(0.01),
    /** Map the three channels through the square root of ImageNet's colour covariance (Lucid: true). */
    decorrelate: z.boolean({ error: 'expected true or false' }).default(true),
    /** What is maximised: the channel's spatial mean ('channel', Lucid's objectives.channel) or its centre unit ('neuron'). */
    objective: z.enum(['channel', 'neuron'], { error: 'expected "channel" or "neuron"' }).default('channel'),
    transforms: robustnessSchema.prefault({}),
    /** Optional diversity penalty (Lucent objectives.diversity): several images per filter, pushed apart. */
    diversity: diversitySchema.nullable().default(null),
  })
  .strict();

export type LucidParams = z.output<typeof lucidParamsSchema>;
export type RobustnessParams = LucidParams['transforms'];
export type DiversityParams = NonNullable<LucidParams['diversity']>;

export const defaultLucidParams: LucidParams = lucidParamsSchema.parse({});

/** Side of the images the engine sees: the picture padded, then cropped twice (warps keep the size). */
export function engineSize(params: Pick<LucidParams, 'size' | 'transforms'>): number {
  const { pad, jitter, jitterAfter } = params.transforms;
  return params.size + 2 * pad - jitter - jitterAfter;
}

/** Images optimised per filter: 1, or the diversity group. */
export function imagesPerFilter(params: Pick<LucidParams, 'diversity'>): number {
  return params.diversity?.images ?? 1;
}

function round(value: number, digits = 4): string {
  return String(Number(value.toPrecision(digits)));
}

/** One sentence for atlas.json's method.description. */
export function describeLucid(params: LucidParams): string {
  const t = params.transforms;
  const span = (values: readonly number[]) => (values.length === 1 ? round(values[0]) : `${round(Math.min(...values))}..${round(Math.max(...values))}`);
  const target = params.objective === 'neuron' ? 'the centre unit of one filter' : 'the mean activation of one filter';
  const diversity = params.diversity
    ? `; ${params.diversity.images} images per filter with a diversity penalty (weight ${round(params.diversity.weight)}) on the Gram matrices of ${params.diversity.layer}`
    : '';
  return (
    `Maximises ${target} (Lucid-style): a ${params.size}x${params.size} image parameterised by its 2-D Fourier spectrum ` +
    `(1/f^${round(params.decayPower)} scaling)${params.decorrelate ? ', ImageNet colour decorrelation' : ''} and a sigmoid; ` +
    `${params.steps} Adam steps (lr ${round(params.learningRate)}), each on a randomly transformed copy ` +
    `(pad ${t.pad}, jitter ${t.jitter}, scale ${span(t.scales)}, rotate ${span(t.angles)} degrees, jitter ${t.jitterAfter})${diversity}.`
  );
}
