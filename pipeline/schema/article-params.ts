import { z } from 'zod';

/**
 * The method's parameters, defaulted to Graetz's article ("How to visualize convolutional features in
 * 40 lines of code") except two choices of ours, listed in NOT_THE_ARTICLES (docs/design.md, "The
 * method"): optimising in ImageNet-normalised space and clipping to [0, 1] between scales.
 * Parsing fills the defaults once; no code after this handles a missing option.
 */
/** Every check of a field says the same thing, as "expected ...", so config and CLI errors read alike. */
export function integer(min: number, max: number) {
  const error = `expected an integer from ${min} to ${max}`;
  return z.number({ error }).int({ error }).min(min, { error }).max(max, { error });
}

export function real(min: number, max: number, { exclusiveMin = false } = {}) {
  const error = exclusiveMin ? `expected a number above ${min} and up to ${max}` : `expected a number from ${min} to ${max}`;
  const base = z.number({ error }).max(max, { error });
  return exclusiveMin ? base.gt(min, { error }) : base.min(min, { error });
}

export const methodParamsSchema = z
  .object({
    /** Side of the square start image, pixels. */
    startSize: integer(8, 1024).default(56),
    /** Number of scales; a fresh Adam runs at each. */
    scales: integer(1, 30).default(12),
    /** Size factor between scales: next = floor(size * upscale). */
    upscale: real(1, 4).default(1.2),
    stepsPerScale: integer(1, 10_000).default(20),
    learningRate: real(0, 100, { exclusiveMin: true }).default(0.1),
    /** L2 weight decay added to the gradient, as torch.optim.Adam's weight_decay. */
    weightDecay: real(0, 1).default(1e-6),
    /** Side of the box blur between scales (cv2.blur); 0 = no blur. Odd, so the box is centred. */
    blurSize: integer(0, 31)
      .refine((k) => k === 0 || k % 2 === 1, { error: 'expected 0 (no blur) or an odd integer up to 31' })
      .default(5),
    /**
     * Start image: uniform noise in [low, high] as fractions of 255 (RGB, [0, 1]), quantised to bytes as
     * the article's uint8. Users write grey levels (150, 180); noiseLevelsSchema converts.
     */
    noise: z
      .tuple([real(0, 1), real(0, 1)], { error: 'expected [low, high] with values from 0 to 1' })
      .refine(([low, high]) => low <= high, { error: 'expected [low, high] with low <= high' })
      .default([150 / 255, 180 / 255]),
    /**
     * Space the optimiser works in. 'imagenet' (our default, not the article's): x = (rgb - ImageNet mean) /
     * ImageNet std for every model (docs/design.md, "The method": keeps the article's learning rate
     * meaningful for models fed [0,1] pixels).
     * 'model': the model's own input space, exactly as the article (raw [0,1] pixels for darknet-tiny).
     */
    space: z.enum(['imagenet', 'model'], { error: 'expected "imagenet" or "model"' }).default('imagenet'),
    /** Clip the image to [0, 1] between scales (and the start of each scale). Our default; the article does not clip. */
    clipBetweenScales: z.boolean({ error: 'expected true or false' }).default(true),
  })
  .strict();

export type MethodParams = z.output<typeof methodParamsSchema>;
export type MethodParamsInput = z.input<typeof methodParamsSchema>;

/** The defaults: the article's parameters, but for NOT_THE_ARTICLES. */
export const defaultMethodParams: MethodParams = methodParamsSchema.parse({});

/** The defaults that are ours, not the article's, and the article's value of each. */
export const NOT_THE_ARTICLES = { space: 'model', clipBetweenScales: false } as const satisfies Partial<MethodParams>;

/** The article's own parameters. */
export const articleMethodParams: MethodParams = { ...defaultMethodParams, ...NOT_THE_ARTICLES };

const greyLevel = z.number({ error: 'expected grey levels from 0 to 255' }).min(0, { error: 'expected grey levels from 0 to 255' }).max(255, { error: 'expected grey levels from 0 to 255' });

/**
 * The start noise as users write it, in the config (`noise: [150, 180]`) and on the command line
 * (`--noise 150,180`): the article's grey levels from 0 to 255. Parses to fractions of 255.
 */
export const noiseLevelsSchema = z
  .tuple([greyLevel, greyLevel], { error: 'expected [low, high] grey levels from 0 to 255, e.g. [150, 180]' })
  .refine(([low, high]) => low <= high, { error: 'expected [low, high] grey levels with low <= high, e.g. [150, 180]' })
  .refine(([low, high]) => !(low <= 1 && high <= 1 && !(Number.isInteger(low) && Number.isInteger(high))), {
    error: 'expected grey levels from 0 to 255 (these look like fractions of 255: multiply by 255, e.g. [150, 180])',
  })
  .transform(([low, high]): [number, number] => [low / 255, high / 255]);

/** Image side at each scale: 56, 67, 80, 96, 115, 138, 165, 198, 237, 284, 340, 408 for the defaults. */
export function scaleSizes(params: Pick<MethodParams, 'startSize' | 'scales' | 'upscale'>): number[] {
  const sizes = [params.startSize];
  // Python's int(1.2 * size); the product is computed in the same order as the article.
  for (let s = 1; s < params.scales; s++) sizes.push(Math.floor(params.upscale * sizes[s - 1]));
  return sizes;
}

/** Side of the final (output) image. */
export function finalSize(params: Pick<MethodParams, 'startSize' | 'scales' | 'upscale'>): number {
  return scaleSizes(params).at(-1)!;
}

function round(value: number, digits = 4): string {
  return String(Number(value.toPrecision(digits)));
}

/** One sentence for atlas.json's method.description. */
export function describeMethod(params: MethodParams): string {
  const sizes = scaleSizes(params);
  const space =
    params.space === 'imagenet'
      ? 'on ImageNet-normalised pixels'
      : "on the model's own input (the article's space)";
  const between = [
    `upscaled x${round(params.upscale)} (bicubic)`,
    params.blurSize > 0 ? `box-blurred ${params.blurSize}x${params.blurSize}` : undefined,
    params.clipBetweenScales ? 'clipped to [0, 1]' : undefined,
  ].filter((part): part is string => part !== undefined);
  return (
    `Maximises the mean activation of one filter: starting from ${params.startSize}x${params.startSize} ` +
    `uniform noise in [${Math.round(params.noise[0] * 255)}, ${Math.round(params.noise[1] * 255)}]/255, ` +
    `${params.scales} scale${params.scales === 1 ? '' : 's'} of ${params.stepsPerScale} Adam steps ` +
    `(lr ${round(params.learningRate)}, weight decay ${round(params.weightDecay)}) ${space}, ` +
    `the image ${between.join(', ')} between scales; output ${sizes.at(-1)}x${sizes.at(-1)} px.`
  );
}
