/** The diff's terminal summary says why units were matched or left out, as the diff page does. */
import { describe, expect, it } from 'vitest';
import { explainLayer } from '../../pipeline/diff/report.js';

describe('explainLayer', () => {
  it('explains matched units and units of A that could not be compared', () => {
    const lines = explainLayer({
      name: 'leaky_re_lu_2',
      channels: 32,
      compared: 3,
      notCompared: [3, 4, 5],
      permuted: true,
      matches: Array.from({ length: 29 }, (_, i) => ({ a: i, b: (i + 1) % 29, correlation: 0.99 })),
      identityCorrelation: 0.12,
      matchedCorrelation: 0.99,
    });
    expect(lines).toEqual([
      'leaky_re_lu_2: 29 units of 32 matched to another channel of B by their activations over the dataset (mean correlation 0.12 at the same index, 0.99 matched): ' +
        'the channels were reordered, which is not a change; each is compared with its match.',
      "leaky_re_lu_2: 3 units of A not compared (3, 4, 5): the unit of B matched to each is not in B's filter selection. " +
        'Visualise every filter of the layer in both atlases (filters: all) to compare them all.',
    ]);
  });

  it('says nothing for a layer compared index to index', () => {
    expect(explainLayer({ name: 'x', channels: 4, compared: 4, notCompared: [], permuted: false, matches: [], identityCorrelation: 1, matchedCorrelation: 1 })).toEqual([]);
  });
});
