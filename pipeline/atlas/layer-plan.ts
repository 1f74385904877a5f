/** What the build plans per layer before any work (build.ts planLayers): shared by the build and its estimate (plan.ts). */
import type { Method } from '../schema/method.js';

/** One method of a layer: its batch size and the cost of one filter's schedule. */
export interface MethodPlan {
  method: Method;
  batchSize: number;
  /** Cost of one filter's schedule (activation values, visualize/cost.ts): how shards share the work. */
  cost: number;
  /** GFLOP of one filter's schedule (visualize/cost.ts filterFlops): the plan's estimate and the progress's ETA. */
  gflop: number;
}

export interface LayerPlan {
  name: string;
  /** The node's aliases (model/graph.ts), recorded for the site's names. */
  aliases: string[];
  index: number;
  kind: string;
  channels: number;
  filters: number[];
  /** The first is the layer's main picture; the others are shown beside it (filters[].others). */
  methods: MethodPlan[];
}
