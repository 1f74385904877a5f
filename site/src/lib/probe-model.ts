/**
 * Which copies of an atlas's probe model the site offers. The float16 copy halves the download at
 * a small cost in precision (its largest deviation is in atlas.json); below HALF_OFFERED_FROM bytes
 * of float32 that saves too little to be worth it (darknet-tiny's default model: 4.2 MB, 2.1 MB
 * as float16), so only the float32 model is published.
 */
import type { Atlas } from '../../../pipeline/schema/atlas.js';

export const HALF_OFFERED_FROM = 8e6;
/** From this size the half-size weights are the default choice. */
export const HALF_PREFERRED_FROM = 32e6;

type ProbeModel = NonNullable<Atlas['probeModel']>;

export function offeredHalf(model: ProbeModel): ProbeModel['fp16'] {
  return model.bytes >= HALF_OFFERED_FROM ? model.fp16 : undefined;
}
