/**
 * A build as units of work that shards share out: every batch of filters of every layer, cut as an
 * unsharded build cuts them (a filter's picture depends on its batch, docs/design.md section 6), and
 * one unit for the dataset scan with its examples and the probes. Units go to shards by estimated
 * cost (longest first, each to the least loaded shard), never by count: a filter of the last layer
 * of the default atlas costs about 6.5 times one of its first layer.
 */
import { chunk } from '../visualize/sweep.js';

export interface BatchUnit {
  kind: 'batch';
  layer: string;
  /** Which of the layer's methods (0: its main picture). */
  method: number;
  /** The batch's position among its layer's batches. */
  batch: number;
  filters: number[];
  /** Estimated cost in activation values (visualize/cost.ts). */
  cost: number;
}

export interface DatasetUnit {
  kind: 'dataset';
  cost: number;
}

export type WorkUnit = BatchUnit | DatasetUnit;

/** One method of one layer: its filters cut into batches as build cuts them for that method. */
export interface LayerWork {
  name: string;
  /** Which of the layer's methods (0: its main picture). */
  method: number;
  /** The layer's whole selection, in order. */
  filters: readonly number[];
  batchSize: number;
  /** One filter's cost (visualize/cost.ts filterCost). */
  filterCost: number;
}

/**
 * The dataset unit's cost in the same currency as the filters' (activation values of the forward
 * passes of their schedules), from how long each part took against the visualisations, measured
 * here on config/default.yaml: the visualisations ran 1.73e11 values in 1186 s (1.46e8 per second,
 * forward and backward), the scan 1000 images x 9.08e6 forward values in 30 s (twice that rate:
 * forward only, so a value weighs 0.5), the examples 1416 filters x 9 top images in 141 s (11 ms
 * each: decoding, cropping and encoding with sharp, about 1.6e6 values' worth). Connected filters
 * are a forward pass to the later layer and a backward pass to the earlier one per (filter, top
 * image): 1.08e11 values for the default atlas. Measured in its 2-shard build at 1 thread
 * (README "Sharded builds"), they took 678 s against 2823 s for the visualisations' 1.73e11 values,
 * so a value weighs 0.4 (at 2 threads 0.6: batched passes that stop at the earlier layer beat the
 * visualisations' one-image steps). Without them, the shard with the dataset unit ran 33 % longer
 * than the other (2219 s against 1670 s); the scan and crops were predicted at 407 s, took 387 s.
 */
export const SCAN_VALUE_WEIGHT = 0.5;
export const EXAMPLE_COST = 1.6e6;
export const CONNECTION_VALUE_WEIGHT = 0.4;

export interface DatasetWork {
  /** Images the scan will read (an estimate from the config: the limit, or the files listed). */
  images: number;
  /** Forward activation values of one image at the model's input size up to the deepest scanned layer. */
  forwardValues: number;
  /** Top images written: filters with examples x top-k. */
  examples: number;
  /** Probe photos (a forward pass each). */
  probes: number;
  /** Connected filters: the activation values of their passes (filters x top-k x values up to the later layer). */
  connectionValues: number;
}

export function datasetCost(work: DatasetWork): number {
  return Math.round(
    SCAN_VALUE_WEIGHT * (work.images + work.probes) * work.forwardValues + EXAMPLE_COST * work.examples + CONNECTION_VALUE_WEIGHT * work.connectionValues,
  );
}

/** Every unit of a build in a fixed order: layers as configured, each layer's methods, batches in order, the dataset last. */
export function workUnits(layers: readonly LayerWork[], dataset: number | undefined): WorkUnit[] {
  const units: WorkUnit[] = layers.flatMap((layer) =>
    chunk(layer.filters, layer.batchSize).map((filters, batch): BatchUnit => ({ kind: 'batch', layer: layer.name, method: layer.method, batch, filters, cost: filters.length * layer.filterCost })),
  );
  if (dataset !== undefined) units.push({ kind: 'dataset', cost: dataset });
  return units;
}

/**
 * The shard (1-based) of each unit: longest processing time first, ties by unit order, each to the
 * least loaded shard, ties to the lowest. Deterministic (integer costs, fixed orders), so every shard
 * computes the same assignment on its own; the busiest shard gets at most 4/3 of the best possible
 * split's longest (Graham's bound), and at most the mean plus one unit.
 */
export function assignShards(units: readonly { cost: number }[], count: number): number[] {
  const order = units.map((_, i) => i).sort((a, b) => units[b].cost - units[a].cost || a - b);
  const load = new Array<number>(count).fill(0);
  const shard = new Array<number>(units.length);
  for (const i of order) {
    let best = 0;
    for (let s = 1; s < count; s++) if (load[s] < load[best]) best = s;
    shard[i] = best + 1;
    load[best] += units[i].cost;
  }
  return shard;
}

/** Estimated cost per shard (index 0 = shard 1). */
export function shardLoads(units: readonly { cost: number }[], assignment: readonly number[], count: number): number[] {
  const load = new Array<number>(count).fill(0);
  units.forEach((unit, i) => (load[assignment[i] - 1] += unit.cost));
  return load;
}
