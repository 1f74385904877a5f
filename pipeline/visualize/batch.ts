/**
 * visualizeBatch: one image per filter, optimised together (the engine runs them as one batch),
 * then checked: diverged filters are retried once at half the learning rate, the rest are
 * measured on the clipped image that is actually displayed and flagged.
 */
import type { Engine } from '../engine/engine.js';
import type { FilterFlags, AtlasFilter } from '../atlas/schema.js';
import type { Preprocessing } from '../model/graph.js';
import { runAscent, type AscentResult } from './loop.js';
import { channelObjective, checkFilters, objectiveValues } from './objective.js';
import { pixelSpace } from './parameterization.js';
import type { MethodParams } from './params.js';
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
  params: MethodParams;
  seed: number;
  signal?: AbortSignal;
  /** The model's own preprocessing; needed only when params.space is 'model'. */
  preprocessing?: Pick<Preprocessing, 'mean' | 'std'>;
  /** Called after every optimisation step of the batch (progress). */
  onStep?: (done: number, total: number) => void;
}

function attempt(engine: Engine, options: VisualizeBatchOptions, filters: number[], learningRate: number): Promise<AscentResult> {
  return runAscent(engine, {
    objective: channelObjective(options.layer, options.channels, filters),
    filters,
    params: options.params,
    learningRate,
    seed: options.seed,
    space: pixelSpace(options.params.space, options.preprocessing),
    signal: options.signal,
    onStep: options.onStep,
  });
}

export async function visualizeBatch(engine: Engine, options: VisualizeBatchOptions): Promise<FilterVisualization[]> {
  const started = performance.now();
  const filters = [...options.filters];
  checkFilters(options.layer, options.channels, filters);
  if (filters.length === 0) return [];
  // Where each filter's final state comes from: the first attempt, or its retry.
  const first = await attempt(engine, options, filters, options.params.learningRate);
  const retryIndices = filters.map((_, i) => i).filter((i) => first.diverged[i]);
  const retry =
    retryIndices.length > 0
      ? await attempt(engine, options, retryIndices.map((i) => filters[i]), options.params.learningRate / 2)
      : undefined;

  const sources = filters.map((_, i) => {
    const r = retryIndices.indexOf(i);
    return r < 0 ? { from: first, index: i } : { from: retry!, index: r };
  });
  const size = first.size;
  const perImage = 3 * size * size;
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
      width: size,
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
      image: { data: image, height: size, width: size },
      activation,
      startActivation: from.start[index],
      seconds,
      flags,
      status: dead ? 'dead' : 'ok',
    };
  });
}
