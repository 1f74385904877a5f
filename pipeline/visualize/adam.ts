/**
 * Adam as torch.optim.Adam (default amsgrad=false): L2 weight decay added to the gradient,
 * bias-corrected moments, eps added after the bias-corrected square root.
 * A fresh optimiser per scale, as the article creates one per scale.
 * Each element is independent, so one optimiser serves a whole batch of images.
 */

export interface AdamOptions {
  learningRate: number;
  weightDecay: number;
  /** @default 0.9 */
  beta1?: number;
  /** @default 0.999 */
  beta2?: number;
  /** @default 1e-8 */
  eps?: number;
}

/**
 * A gradient to be taken times a factor per plane of `plane` elements, the factors in turn (one per
 * channel of CHW images): the chain rule of a change of variables per channel, applied as Adam reads
 * the gradient instead of in a pass and an array of its own. Each scaled value is rounded to float32,
 * as an array of them would hold it (parameterization.ts gradientToParams: the same numbers).
 */
export interface GradientScale {
  plane: number;
  factors: readonly number[];
}

export interface Adam {
  /** Steps taken so far. */
  readonly steps: number;
  /**
   * One update of params (in place: the optimiser owns the parameter array it is given)
   * with the gradient of the loss being minimised. `frozen(i)` true skips image i (its
   * elementsPerImage elements), e.g. after it diverged.
   */
  step(params: Float32Array, gradient: Float32Array, frozen?: (image: number) => boolean, elementsPerImage?: number, scale?: GradientScale): void;
}

/**
 * The two scalars of step t (1-based): the step size lr / (1 - beta1^t) and sqrt(1 - beta2^t), the
 * bias correction of the second moment. The in-graph update (the engine's startAscent) takes them as
 * inputs, so both paths use these very numbers.
 */
export function adamScalars(t: number, options: AdamOptions): { stepSize: number; sqrtCorrection2: number } {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  return { stepSize: options.learningRate / (1 - beta1 ** t), sqrtCorrection2: Math.sqrt(1 - beta2 ** t) };
}

export function createAdam(size: number, options: AdamOptions): Adam {
  const beta1 = options.beta1 ?? 0.9;
  const beta2 = options.beta2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  const { weightDecay } = options;
  const m = new Float32Array(size);
  const v = new Float32Array(size);
  let t = 0;
  return {
    get steps() {
      return t;
    },
    step(params, gradient, frozen, elementsPerImage = size, scale) {
      if (params.length !== size || gradient.length !== size) {
        throw new RangeError(`Adam: expected ${size} parameters and gradients, received ${params.length} and ${gradient.length}`);
      }
      if (scale && (!(scale.plane > 0) || elementsPerImage % scale.plane !== 0 || scale.factors.length === 0)) {
        throw new RangeError(`Adam: a gradient scale needs planes (${scale.plane} elements) that divide an image (${elementsPerImage}) and at least one factor`);
      }
      t += 1;
      const { stepSize, sqrtCorrection2 } = adamScalars(t, options);
      const [keep1, take1, keep2, take2] = [beta1, 1 - beta1, beta2, 1 - beta2];
      const factors = scale?.factors ?? [1];
      const plane = scale?.plane ?? elementsPerImage;
      for (let start = 0, image = 0; start < size; start += elementsPerImage, image++) {
        if (frozen?.(image)) continue;
        const end = Math.min(size, start + elementsPerImage);
        for (let from = start; from < end; from += plane) {
          const factor = factors[(from / plane) % factors.length];
          const to = Math.min(end, from + plane);
          for (let i = from; i < to; i++) {
            const p = params[i];
            // A scaled gradient value is rounded to float32 after + 0, as gradientToParams stores it.
            const g = (scale ? Math.fround(gradient[i] * factor + 0) : gradient[i]) + weightDecay * p;
            // Moments are stored (rounded) as float32, as torch keeps them; reuse the rounded values.
            const mi = Math.fround(keep1 * m[i] + take1 * g);
            const vi = Math.fround(keep2 * v[i] + take2 * g * g);
            m[i] = mi;
            v[i] = vi;
            params[i] = p - (stepSize * mi) / (Math.sqrt(vi) / sqrtCorrection2 + eps);
          }
        }
      }
    },
  };
}
