/**
 * What an incomplete merged atlas lacks, in words: for `merge`'s output and the site's notice.
 */
import type { AtlasMissing } from '../schema/atlas.js';

/** "0-3, 8, 10-11" */
export function ranges(values: readonly number[]): string {
  const parts: string[] = [];
  for (let i = 0; i < values.length; i++) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === values[j] + 1) j++;
    parts.push(j === i ? String(values[i]) : `${values[i]}-${values[j]}`);
    i = j;
  }
  return parts.join(', ');
}

/** "4 filters of conv2d_16 (1-4); the dataset scan and examples; probe photos/chelsea.png at conv2d_16" */
export function describeMissing(missing: AtlasMissing): string {
  const parts = missing.filters.map((m) => `${m.filters.length} filter${m.filters.length === 1 ? '' : 's'} of ${m.layer} (${ranges(m.filters)})`);
  if (missing.dataset) parts.push('the dataset scan and examples');
  if (missing.probes.length > 0) parts.push(`probe${missing.probes.length === 1 ? '' : 's'} ${missing.probes.join(', ')}`);
  return parts.join('; ');
}
