import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createProgress } from '../../pipeline/util/progress.js';
import { sweepFilters } from '../../pipeline/visualize/sweep.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';
import { createFakeEngine } from '../visualize/fake-engine.js';

/** A non-terminal stream (plain lines) that keeps what was written, and a clock the test moves. */
function fakes() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      done();
    },
  });
  const clock = { ms: 0 };
  return { lines, stream, clock, now: () => clock.ms };
}

describe('createProgress (plain lines, fake clock)', () => {
  it('counts n filters per tick and gives the rate and ETA in filters per second', () => {
    const { lines, stream, clock, now } = fakes();
    const progress = createProgress('filters', 9, { stream, now, intervalMs: 0 });
    clock.ms = 30_000;
    progress.tick(3); // a batch of 3 filters in 30 s: 10 s each, 6 left
    clock.ms = 60_000;
    progress.tick(3);
    progress.stop();
    expect(lines).toEqual(['filters: 3/9 (33%), 10.0s each, ETA 1m00s', 'filters: 6/9 (66%), 10.0s each, ETA 30s', 'filters: 6/9 done in 1m00s']);
  });

  it('weights the ETA by work when filters cost unequal amounts', () => {
    const { lines, stream, clock, now } = fakes();
    const progress = createProgress('filters', 4, { stream, now, intervalMs: 0, work: 10 });
    clock.ms = 20_000;
    progress.tick(2, 2); // 2 of 10 units in 20 s: the 8 left take 80 s
    expect(lines).toEqual(['filters: 2/4 (50%), 10.0s each, ETA 1m20s']);
  });

  it('gives the plan\'s expected seconds as the ETA until work is done, then this run\'s rate', () => {
    const { lines, stream, clock, now } = fakes();
    const progress = createProgress('filters', 4, { stream, now, intervalMs: 0, work: 10, expectedSeconds: 100 });
    clock.ms = 30_000;
    progress.skip(1, 5); // reused half the work
    progress.tick(1, 1); // 1 unit in 30 s: the 4 left take 120 s
    expect(lines).toEqual(['filters: 0/4, ETA 1m40s (planned)', 'filters: 2/4 (50%), 30.0s each, ETA 2m00s']);
  });
});

describe('progress of a sweep', () => {
  const params = methodParamsSchema.parse({ startSize: 16, scales: 2, stepsPerScale: 3 });
  const base = { layer: 'fake', channels: 4, method: { kind: 'article' as const, params }, seed: 1 };

  it('advances by the filters of each finished batch, never by one filter of a batch (was 1/3 (33%) then 3/3 done)', async () => {
    const { lines, stream, clock, now } = fakes();
    const progress = createProgress('filters', 5, { stream, now, intervalMs: 0 });
    await sweepFilters(createFakeEngine({ channels: 4 }), {
      ...base,
      filters: [0, 1, 2, 3, 0],
      batchSize: 3,
      onBatch: (filtersInBatch) => {
        clock.ms += 30_000; // every batch takes 30 s
        progress.tick(filtersInBatch);
      },
    });
    progress.stop();
    // 3 filters in 30 s: 10 s each, so the 2 left take 20 s; then 5 in 60 s.
    expect(lines).toEqual(['filters: 3/5 (60%), 10.0s each, ETA 20s', 'filters: 5/5 (100%), 12.0s each', 'filters: 5/5 done in 1m00s']);
  });

  it('hands every batch to onBatch once, after its results, whatever the concurrency', async () => {
    const events: string[] = [];
    await sweepFilters(createFakeEngine({ channels: 4 }), {
      ...base,
      filters: [0, 1, 2, 3, 0],
      batchSize: 2,
      concurrency: 2,
      onResult: (result) => void events.push(`result ${result.filter}`),
      onBatch: (filtersInBatch) => void events.push(`batch ${filtersInBatch}`),
    });
    expect(events.filter((e) => e.startsWith('batch')).sort()).toEqual(['batch 1', 'batch 2', 'batch 2']);
    // Each batch's count comes after its own results: 5 results, and the counts add up to them.
    let results = 0;
    let counted = 0;
    for (const event of events) {
      if (event.startsWith('result')) results++;
      else counted += Number(event.split(' ')[1]);
      expect(counted).toBeLessThanOrEqual(results);
    }
    expect(counted).toBe(5);
  });
});
