/**
 * visualizeBatch: one image per filter, optimised together (the engine runs them as one batch),
 * then checked: diverged filters are retried once at half the learning rate, the rest are
 * measured on the clipped image that is actually displayed and flagged.
 */
import type { Engine } from '../engine/engine.js';
import type { FilterFlags, AtlasFilter } from '../schema/atlas.js';
import type { Preprocessing } from '../model/graph.js';
import { runAscent, type AscentResult } from './loop.js';
import { runLucid } from './lucid/loop.js';
import { channelMean, centreNeuron, withDiversity } from './lucid/objective.js';
import { imagesPerFilter } from '../schema/lucid-params.js';
import type { Method } from '../schema/method.js';
import { channelObjective, checkFilters, objectiveValues } from './objective.js';
import { pixelSpace } from './parameterization.js';
import { isDead, isLowContrast } from './quality.js';
import { clip01, clippedFraction } from './transforms.js';

export interface FilterImage {
  /** CHW, RGB in [0, 1]. */
  data: Float32Array;
  height: number;
  width: number;
}

export interface FilterVisualization {
  filter: number;
  /** null when status is 'failed': a diverged image is never returned. */
  image: FilterImage | null;
  /** Objective (mean activation of the filter) on the final, clipped image. NaN when failed. */
  activation: number;
  /** Objective on the start noise. */
  startActivation: number;
  /** Batch time divided by batch size. */
  seconds: number;
  flags: FilterFlags;
  status: AtlasFilter['status'];
}

export interface VisualizeBatchOptions {
  layer: string;
  /** Channel count of the layer. */
  channels: number;
  filters: readonly number[];
  method: Method;
  seed: number;
  signal?: AbortSignal;
  /** The model's own preprocessing; needed only when the article's params.space is 'model'. */
  preprocessing?: Pick<Preprocessing, 'mean' | 'std'>;
  /** Called after every optimisation step of the batch (progress). */
  onStep?: (done: number, total: number) => void;
}

function attempt(engine: Engine, options: VisualizeBatchOptions, filters: number[], learningRate: number): Promise<AscentResult> {
  const { method } = options;
  if (method.kind === 'lucid') return attemptLucid(engine, options, method.params, filters, learningRate);
  return runAscent(engine, {
    objective: channelObjective(options.layer, options.channels, filters),
    filters,
    params: method.params,
    learningRate,
    seed: options.seed,
    space: pixelSpace(method.params.space, options.preprocessing),
    signal: options.signal,
    onStep: options.onStep,
  });
}

/**
 * The lucid method on a batch: a diversity group of images per filter (one without diversity), and its
 * result folded back to one picture per filter: the group's images side by side, the objective of the
 * group's first image (the diversity penalty pushes the others away from it, so they score less).
 */
async function attemptLucid(engine: Engine, options: VisualizeBatchOptions, params: Extract<Method, { kind: 'lucid' }>['params'], filters: number[], learningRate: number): Promise<AscentResult> {
  const group = imagesPerFilter(params);
  const perImage = filters.flatMap((filter) => Array.from({ length: group }, () => filter));
  const main = params.objective === 'neuron' ? centreNeuron(options.layer, options.channels, perImage) : channelMean(options.layer, options.channels, perImage);
  const objective = params.diversity ? withDiversity(main, params.diversity.layer, params.diversity.weight, group) : main;
  const result = await runLucid(engine, {
    objective,
    n: perImage.length,
    copies: perImage.map((_, i) => i % group),
    params,
    learningRate,
    seed: options.seed,
    signal: options.signal,
    onStep: options.onStep,
  });
  if (group === 1) return result;
  const { size } = result;
  const tiled = new Float32Array(filters.length * 3 * size * size * group);
  const width = size * group;
  for (let f = 0; f < filters.length; f++) {
    for (let k = 0; k < group; k++) {
      const src = (f * group + k) * 3 * size * size;
      for (let c = 0; c < 3; c++) {
        for (let y = 0; y < size; y++) {
          const from = src + (c * size + y) * size;
          tiled.set(result.images.subarray(from, from + size), f * 3 * size * width + (c * size + y) * width + k * size);
        }
      }
    }
  }
  const first = (values: ArrayLike<number>) => Float64Array.from(filters, (_, f) => values[f * group]);
  const any = (values: boolean[]) => filters.map((_, f) => values.slice(f * group, (f + 1) * group).some(Boolean));
  return { images: tiled, size, width, start: first(result.start), best: first(result.best), gradientSeen: any(result.gradientSeen), diverged: any(result.diverged) };
}

export async function visualizeBatch(engine: Engine, options: VisualizeBatchOptions): Promise<FilterVisualization[]> {
  const started = performance.now();
  const filters = [...options.filters];
  checkFilters(options.layer, options.channels, filters);
  if (filters.length === 0) return [];
  // Where each filter's final state comes from: the first attempt, or its retry.
  const learningRate = options.method.params.learningRate;
  const first = await attempt(engine, options, filters, learningRate);
  const retryIndices = filters.map((_, i) => i).filter((i) => first.diverged[i]);
  const retry =
    retryIndices.length > 0
      ? await attempt(engine, options, retryIndices.map((i) => filters[i]), learningRate / 2)
      : undefined;

  const sources = filters.map((_, i) => {
    const r = retryIndices.indexOf(i);
    return r < 0 ? { from: first, index: i } : { from: retry!, index: r };
  });
  const size = first.size;
  // A lucid diversity group is one picture of its images side by side.
  const width = first.width ?? size;
  const perImage = 3 * size * width;
  const ok = sources.map((s) => !s.from.diverged[s.index]);

  // Final images, clipped for display; their activation is measured on exactly what is shown.
  const raw = sources.map((s) => s.from.images.subarray(s.index * perImage, (s.index + 1) * perImage));
  const shown = raw.map((image, i) => (ok[i] ? clip01(image) : null));
  const live = shown.filter((image): image is Float32Array => image !== null);
  const liveFilters = filters.filter((_, i) => ok[i]);
  const activations = new Map<number, number>();
  if (live.length > 0) {
    options.signal?.throwIfAborted();
    const data = new Float32Array(live.length * perImage);
    live.forEach((image, i) => data.set(image, i * perImage));
    const values = await objectiveValues(engine, channelObjective(options.layer, options.channels, liveFilters), {
      data,
      n: live.length,
      height: size,
      width,
    });
    let k = 0;
    filters.forEach((_, i) => ok[i] && activations.set(i, values[k++]));
  }
  // An engine that returns a non-finite objective for a finite image has failed that filter too.
  activations.forEach((value, i) => Number.isFinite(value) || (ok[i] = false));

  const seconds = (performance.now() - started) / 1000 / filters.length;
  return filters.map((filter, i) => {
    const { from, index } = sources[i];
    const image = ok[i] ? shown[i] : null;
    if (!image) {
      return {
        filter,
        image: null,
        activation: Number.NaN,
        startActivation: first.start[i],
        seconds,
        flags: { dead: false, diverged: true, lowContrast: false, clippedFraction: 0 },
        status: 'failed',
      };
    }
    const activation = activations.get(i)!;
    const dead = isDead(from.start[index], Math.max(from.best[index], activation), from.gradientSeen[index]);
    const flags: FilterFlags = {
      dead,
      diverged: retryIndices.includes(i),
      lowContrast: isLowContrast(image),
      clippedFraction: clippedFraction(raw[i]),
    };
    return {
      filter,
      image: { data: image, height: size, width },
      activation,
      startActivation: from.start[index],
      seconds,
      flags,
      status: dead ? 'dead' : 'ok',
    };
  });
}
