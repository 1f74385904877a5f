/**
 * The article's parameterisation: the optimised variable is a batch of pixel images in a
 * normalised space, x = (rgb - mean) / std, optimised directly (no FFT, no colour decorrelation).
 * Engines take and differentiate RGB in [0, 1], so the loss gradient goes through the chain rule:
 * d loss / d x = d loss / d rgb * std.
 */
import { userError } from '../errors.js';
import type { Preprocessing } from '../model/graph.js';
import { createRandom, deriveSeed } from '../util/random.js';
import type { MethodParams } from '../schema/article-params.js';

export interface PixelSpace {
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
}

/** torchvision's ImageNet statistics, the space VGG-16 (the article's model) is fed. */
export const IMAGENET_SPACE: PixelSpace = { mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] };

/** The space named by params.space; 'model' needs the model's own preprocessing. */
export function pixelSpace(space: MethodParams['space'], preprocessing?: Pick<Preprocessing, 'mean' | 'std'>): PixelSpace {
  if (space === 'imagenet') return IMAGENET_SPACE;
  if (!preprocessing) {
    throw userError({
      where: 'method parameter space',
      expected: "the model's preprocessing (mean and std) when space is 'model'",
      received: 'none',
      fix: "Pass the model's preprocessing to visualizeBatch, or use space 'imagenet'.",
    });
  }
  return { mean: preprocessing.mean, std: preprocessing.std };
}

/** Layout of a batch of RGB images, NCHW. */
export interface BatchShape {
  n: number;
  height: number;
  width: number;
}

/**
 * out = data * scale[c] + offset[c] per channel plane. Written as one plain loop (no callback per
 * element): at 408 px a batch holds millions of values and this runs several times per step.
 */
function affinePerChannel(data: Float32Array, shape: BatchShape, scale: readonly number[], offset: readonly number[]): Float32Array {
  const plane = shape.height * shape.width;
  const out = new Float32Array(data.length);
  for (let p = 0, planes = data.length / plane; p < planes; p++) {
    const a = scale[p % 3];
    const b = offset[p % 3];
    for (let i = p * plane, end = i + plane; i < end; i++) out[i] = data[i] * a + b;
  }
  return out;
}

/** x = (rgb - mean) / std. */
export function imagesToParams(images: Float32Array, shape: BatchShape, space: PixelSpace): Float32Array {
  const scale = space.std.map((s) => 1 / s);
  return affinePerChannel(images, shape, scale, space.mean.map((m, c) => -m * scale[c]));
}

/** rgb = x * std + mean (not clipped: within a scale the article lets pixels leave [0, 1]). */
export function paramsToImages(x: Float32Array, shape: BatchShape, space: PixelSpace): Float32Array {
  return affinePerChannel(x, shape, space.std, space.mean);
}

/**
 * Chain rule from d f / d rgb to d f / d x (times `sign`: -1 turns the objective's gradient into the
 * gradient of the loss -objective without another pass over the data).
 */
export function gradientToParams(gradient: Float32Array, shape: BatchShape, space: PixelSpace, sign: 1 | -1 = 1): Float32Array {
  return affinePerChannel(gradient, shape, space.std.map((s) => sign * s), [0, 0, 0]);
}

/**
 * The start image, CHW RGB: uniform noise in [low, high] quantised down to bytes as the article's
 * np.uint8(uniform(150, 180)) / 255. It depends on the seed only, never on the filter's index or batch:
 * a unit that moved to another index in a new model version (a permutation, the same weights) then
 * starts from the same image and, as engines treat each image of a batch alone, draws the same picture
 * (docs/design.md, "Start noise"). The stream is the one filter 0 had when each filter had its own.
 */
export function noiseImage(seed: number, size: number, noise: readonly [number, number]): Float32Array {
  const random = createRandom(deriveSeed(seed, 0));
  const [low, high] = [noise[0] * 255, noise[1] * 255];
  const out = new Float32Array(3 * size * size);
  for (let i = 0; i < out.length; i++) {
    // Truncation as numpy's uint8 cast; the min keeps high itself out when high is a whole byte.
    out[i] = Math.min(Math.floor(low + (high - low) * random.next()), 255) / 255;
  }
  return out;
}
