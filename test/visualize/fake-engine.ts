/**
 * A fake Engine with an analytic objective, so the optimiser's behaviour is known exactly:
 * channel c's objective for an image is -mean over pixels of (rgb - target_c)^2, whose optimum
 * (0) is the image target_c. Per image independent, like a real CNN in eval mode.
 * Special channels: `deadChannels` have zero objective and gradient; `nanAbove` makes a channel
 * return NaN as soon as any pixel exceeds a threshold (to trigger divergence handling).
 */
import type { Engine, FeatureMaps, ImageBatch, ObjectiveGradient } from '../../pipeline/engine/engine.js';

export interface FakeEngineOptions {
  channels: number;
  layer?: string;
  deadChannels?: number[];
  nanAbove?: Map<number, number>;
}

/** The optimum of channel c at pixel (k, y, x) of an h x w image: smooth, inside (0.1, 0.9). */
export function target(c: number, k: number, y: number, x: number, h: number, w: number): number {
  return 0.5 + 0.4 * Math.sin((c + 1) * 3 * (y / h) + (k + 1) * 2 * (x / w) + c);
}

export interface FakeEngine extends Engine {
  /** Batch sizes of every objectiveGradient call. */
  calls: number[];
}

export function createFakeEngine(options: FakeEngineOptions): FakeEngine {
  const layer = options.layer ?? 'fake';
  const dead = new Set(options.deadChannels ?? []);
  const calls: number[] = [];
  const channelValue = (batch: ImageBatch, n: number, c: number, gradient?: Float32Array, weight = 1): number => {
    const { height: h, width: w } = batch;
    const perImage = 3 * h * w;
    if (dead.has(c)) return 0;
    const limit = options.nanAbove?.get(c);
    let sum = 0;
    let overflow = false;
    for (let k = 0; k < 3; k++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const i = n * perImage + (k * h + y) * w + x;
          const d = batch.data[i] - target(c, k, y, x, h, w);
          if (limit !== undefined && batch.data[i] > limit) overflow = true;
          sum += d * d;
          if (gradient) gradient[i] += (weight * -2 * d) / perImage;
        }
      }
    }
    if (overflow) {
      if (gradient) gradient.fill(Number.NaN, n * perImage, (n + 1) * perImage);
      return Number.NaN;
    }
    return -sum / perImage;
  };
  const check = (name: string): void => {
    if (name !== layer) throw new Error(`fake engine: no layer ${name}`);
  };
  return {
    info: { name: 'ort', device: 'fake', deviceKind: 'cpu' },
    calls,
    async forward(batch: ImageBatch, layers: readonly string[]): Promise<Map<string, FeatureMaps>> {
      layers.forEach(check);
      const data = new Float32Array(batch.n * options.channels);
      for (let n = 0; n < batch.n; n++) for (let c = 0; c < options.channels; c++) data[n * options.channels + c] = channelValue(batch, n, c);
      return new Map([[layer, { data, n: batch.n, channels: options.channels, height: 1, width: 1 }]]);
    },
    async objectiveGradient(batch: ImageBatch, name: string, weights: Float32Array): Promise<ObjectiveGradient> {
      check(name);
      calls.push(batch.n);
      const objective = new Float32Array(batch.n);
      const gradient = new Float32Array(batch.data.length);
      for (let n = 0; n < batch.n; n++) {
        for (let c = 0; c < options.channels; c++) {
          const weight = weights[n * options.channels + c];
          if (weight !== 0) objective[n] += weight * channelValue(batch, n, c, gradient, weight);
        }
      }
      return { objective, gradient };
    },
    async backward() {
      throw new Error('fake engine: backward is not used by the method tests');
    },
    async attribution() {
      throw new Error('fake engine: attribution is not used by the method tests');
    },
    async rowAttribution() {
      throw new Error('fake engine: rowAttribution is not used by the method tests');
    },
    async dispose() {},
  };
}
