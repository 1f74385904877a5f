/**
 * "Dead" relative to the layer, decided where the whole layer is known: when the atlas is assembled
 * (build and merge alike) and counted. A batch of the visualisation stage sees only its own filters,
 * and its records are keyed and reused; judging here needs no recomputation and no new record field
 * (each record keeps the stage's verdict and both objectives), and an atlas built before the rule
 * gets it at its next build or merge. The rule is pipeline/visualize/quality.ts isDeadInLayer.
 */
import { isDeadInLayer, layerActivationScale } from '../visualize/quality.js';
import type { VisualRecord } from './records.js';

/** A record as the atlas shows it: the stage's `dead` cleared when its picture rises relative to the layer. */
export function judgeInLayer(record: VisualRecord, layerScale: number): VisualRecord {
  if (record.status !== 'dead' || isDeadInLayer(record, layerScale)) return record;
  return { ...record, status: 'ok', flags: { ...record.flags, dead: false } };
}

/** Every layer's pictures, per method (layer -> per method -> filter -> record), judged against that layer's and method's pictures. */
export function judgeLayers(pictures: ReadonlyMap<string, ReadonlyArray<ReadonlyMap<number, VisualRecord>>>): Map<string, Array<Map<number, VisualRecord>>> {
  return new Map(
    [...pictures].map(([layer, methods]) => [
      layer,
      methods.map((byFilter) => {
        const scale = layerActivationScale(byFilter.values());
        return new Map([...byFilter].map(([filter, record]) => [filter, judgeInLayer(record, scale)]));
      }),
    ]),
  );
}
