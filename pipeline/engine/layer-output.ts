/** What both engines return for a layer: FeatureMaps, NCHW (a vector layer (N, C) as C x 1 x 1). */
import type { FeatureMaps } from './engine.js';

/** A layer output as FeatureMaps from NCHW (or N x C) data and its dims. */
export function featureMapsOf(data: Float32Array, dims: readonly number[]): FeatureMaps {
  const [n, channels, ...rest] = dims;
  const spatial = rest.length === 2 ? rest : [1, rest.reduce((a, b) => a * b, 1)];
  return { data, n, channels, height: spatial[0], width: spatial[1] };
}
