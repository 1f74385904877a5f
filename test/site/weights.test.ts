/**
 * The budget checker of test/site/weights.ts can fail: a layer page whose first screen shows a 1.2 MB
 * image weighs over BUDGETS.layerPageBytes, and a site holding a 101 MB file (sparse on disk) over
 * BUDGETS.siteBytes. The real sites the browser tests build are far under both, so without this their
 * budget checks would pass whether or not the checker measured anything.
 */
import { mkdtemp, open, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BUDGETS, layerPages, siteBytes, weighPages } from './weights.js';

describe('the page-weight budget checker', () => {
  it('finds a layer page over its budget, and a site over its budget', async () => {
    const dist = await mkdtemp(join(tmpdir(), 'filter-atlas-weights-'));
    const heavy = Buffer.alloc(1_200_000, 0x41);
    await writeFile(join(dist, 'heavy.png'), heavy);
    await writeFile(join(dist, 'index.html'), '<!doctype html><html><body><ul id="filters"><li><img src="/heavy.png" width="200" height="200" alt="x"></li></ul></body></html>');
    expect(await layerPages(dist, '/')).toEqual(['/']);
    const weights = await weighPages(dist, '/', ['/']);
    expect(weights.map((w) => w.viewport)).toEqual(['desktop', 'phone']);
    for (const w of weights) {
      expect(w.aboveFold).toBe(heavy.length);
      expect(w.total).toBeGreaterThan(BUDGETS.layerPageBytes);
    }
    const big = await open(join(dist, 'big.bin'), 'w');
    await big.truncate(BUDGETS.siteBytes + 1_000_000);
    await big.close();
    expect(await siteBytes(dist)).toBeGreaterThan(BUDGETS.siteBytes);
  });
});
