/**
 * From one measured batch of layer-40 filters to the time of a whole atlas. Per-filter cost follows
 * the project's cost model (pipeline/visualize/cost.ts: activation values computed over the
 * schedule), so a batch measured on a shortened schedule, or cut short by the deadline, still
 * projects: seconds per unit of cost x the cost of what the atlas asks for.
 */
import type { Config } from '../../pipeline/config/load.js';
import { resolveFilters } from '../../pipeline/config/filters.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { findLayer } from '../../pipeline/model/layers.js';
import { filterCost, forwardCost } from '../../pipeline/visualize/cost.js';
import { methodParamsSchema, scaleSizes, type MethodParams } from '../../pipeline/schema/article-params.js';

/**
 * The schedule of the batch run: the article's (the project's defaults), or two short scales for a
 * dry run, from `startSize` (56, the article's; smaller for a dry run on a software adapter).
 */
export function scheduleParams(quick: boolean, startSize?: number): MethodParams {
  return methodParamsSchema.parse(quick ? { scales: 2, stepsPerScale: 2, ...(startSize ? { startSize } : {}) } : {});
}

/** Fraction of a schedule's cost done after `stepsDone` steps (later scales are larger, so cost more). */
export function scheduleFractionDone(model: CnnModel, layer: string, params: MethodParams, stepsDone: number): number {
  const perStep = scaleSizes(params).map((size) => forwardCost(model, layer, size));
  let done = 0;
  perStep.forEach((cost, scale) => {
    done += cost * Math.max(0, Math.min(params.stepsPerScale, stepsDone - scale * params.stepsPerScale));
  });
  const total = perStep.reduce((sum, cost) => sum + cost * params.stepsPerScale, 0);
  return done / total;
}

export interface AtlasProjection {
  /** What the projection covers, in words. */
  what: string;
  filters: number;
  seconds: number;
  hours: number;
}

/**
 * Seconds per filter of `layer` under `measured` (what ran) turned into the article's atlas:
 * the config's layers and filters as written, and every filter of the same layers.
 */
export function projectAtlas(model: CnnModel, config: Config, layer: string, measured: MethodParams, secondsPerFilter: number): AtlasProjection[] {
  const secondsPerCost = secondsPerFilter / filterCost(model, findLayer(model, layer).node.name, { kind: 'article', params: measured });
  const entries = config.layers.map((entry) => {
    const { node, channels } = findLayer(model, entry.layer);
    // Every method of the layer is a picture per filter.
    const cost = entry.methods.reduce((sum, method) => sum + filterCost(model, node.name, method), 0);
    return { cost, chosen: resolveFilters(entry.filters, channels, entry.layer).length, all: channels };
  });
  const total = (pick: 'chosen' | 'all') => {
    const seconds = entries.reduce((sum, e) => sum + e[pick] * e.cost * secondsPerCost, 0);
    return { filters: entries.reduce((sum, e) => sum + e[pick], 0), seconds, hours: seconds / 3600 };
  };
  const layers = config.layers.map((l) => l.layer).join(', ');
  return [
    { what: `config/article.yaml as written (layers ${layers}, the article's filter galleries)`, ...total('chosen') },
    { what: `every filter of layers ${layers}`, ...total('all') },
  ];
}

/** Largest absolute difference relative to the largest reference magnitude. */
export function relativeError(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let scale = 0;
  let error = 0;
  for (let i = 0; i < want.length; i++) {
    scale = Math.max(scale, Math.abs(want[i]));
    error = Math.max(error, Math.abs(got[i] - want[i]));
  }
  return scale > 0 ? error / scale : error;
}

/**
 * ||got - want|| / ||want|| (Euclidean). Less sensitive than relativeError to the few pixels whose
 * gradient moves when a float32 ReLU input or max-pool runner-up sits within rounding of its kink
 * (docs/design.md section 3): such a flip is large at one pixel and small in the norm.
 */
export function relativeL2Error(got: ArrayLike<number>, want: ArrayLike<number>): number {
  if (got.length !== want.length) return Number.POSITIVE_INFINITY;
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff += (got[i] - want[i]) ** 2;
    norm += want[i] ** 2;
  }
  return norm > 0 ? Math.sqrt(diff / norm) : Math.sqrt(diff);
}
