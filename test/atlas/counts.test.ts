/**
 * The counts of a build's and a merge's summary (pipeline/atlas/counts.ts): filters are distinct
 * (layer, filter) pairs counted once by their main picture, pictures are counted per method, and
 * statuses split into ok, flagged (a badge the site shows), dead and failed.
 */
import { describe, expect, it } from 'vitest';
import { countAtlas, countPictures, describeCounts, describeFailed, pictureStatus, type CountedPicture } from '../../pipeline/atlas/counts.js';

const flags = { dead: false, diverged: false, lowContrast: false, clippedFraction: 0 };
const ok: CountedPicture = { status: 'ok', flags };
const picture = (status: CountedPicture['status'], raised: Partial<typeof flags> = {}): CountedPicture => ({ status, flags: { ...flags, ...raised } });
const byFilter = (entries: Array<[number, CountedPicture]>) => new Map(entries);
const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe('pictureStatus', () => {
  it('is the record status, ok split into ok and flagged by the flags the site shows as badges', () => {
    expect(pictureStatus(ok)).toBe('ok');
    expect(pictureStatus(picture('ok', { clippedFraction: 0.4 }))).toBe('ok');
    expect(pictureStatus(picture('ok', { diverged: true }))).toBe('flagged');
    expect(pictureStatus(picture('ok', { lowContrast: true }))).toBe('flagged');
    expect(pictureStatus(picture('dead', { lowContrast: true }))).toBe('dead');
    expect(pictureStatus(picture('failed', { diverged: true }))).toBe('failed');
  });
});

describe('countPictures', () => {
  it('counts a layer of two methods as its filters once and its pictures twice (32 filters, 64 pictures)', () => {
    const layers = [{ name: 'conv', method: { kind: 'article' as const }, otherMethods: [{ kind: 'lucid' as const }] }];
    const main = byFilter(range(32).map((f) => [f, ok]));
    const lucid = byFilter(range(32).map((f) => [f, ok]));
    const counts = countPictures(layers, new Map([['conv', [main, lucid]]]));
    expect(counts.filters).toEqual({ total: 32, ok: 32, flagged: 0, dead: 0, failed: 0 });
    expect(counts.pictures).toEqual({
      total: 64, ok: 64, flagged: 0, dead: 0, failed: 0,
      byMethod: { article: { total: 32, ok: 32, flagged: 0, dead: 0, failed: 0 }, lucid: { total: 32, ok: 32, flagged: 0, dead: 0, failed: 0 } },
    });
    expect(counts.failed).toEqual([]);
    expect(describeCounts(counts)).toBe('32 filters (32 ok, 0 flagged, 0 dead, 0 failed), 64 pictures (32 article, 32 lucid; 64 ok, 0 flagged, 0 dead, 0 failed)');
  });

  it('gives filters the status of their main picture, pictures their own, and lists every failed picture by layer and method', () => {
    const layers = [
      { name: 'a', otherMethods: [{ kind: 'lucid' as const }] },
      { name: 'b', method: { kind: 'lucid' as const } },
    ];
    const counts = countPictures(
      layers,
      new Map([
        ['a', [byFilter([[0, ok], [1, picture('ok', { diverged: true })], [2, picture('dead')], [3, picture('failed')], [5, picture('failed')]]), byFilter([[0, picture('failed')], [1, ok], [2, ok], [3, ok], [5, ok]])]],
        ['b', [byFilter([[7, picture('ok', { lowContrast: true })], [4, picture('failed')]])]],
      ]),
    );
    expect(counts.filters).toEqual({ total: 7, ok: 1, flagged: 2, dead: 1, failed: 3 });
    expect(counts.pictures.byMethod).toEqual({ article: { total: 5, ok: 1, flagged: 1, dead: 1, failed: 2 }, lucid: { total: 7, ok: 4, flagged: 1, dead: 0, failed: 2 } });
    expect(counts.pictures).toMatchObject({ total: 12, ok: 5, flagged: 2, dead: 1, failed: 4 });
    expect(counts.failed).toEqual([
      { layer: 'a', method: 'article', filters: [3, 5] },
      { layer: 'a', method: 'lucid', filters: [0] },
      { layer: 'b', method: 'lucid', filters: [4] },
    ]);
    expect(describeFailed(counts.failed)).toBe('2 of a by article (3, 5); 1 of a by lucid (0); 1 of b by lucid (4)');
  });

  it("counts a shard's other-method pictures whose main picture another shard made among the pictures only", () => {
    const layers = [{ name: 'a', otherMethods: [{ kind: 'lucid' as const }] }];
    const counts = countPictures(layers, new Map([['a', [byFilter([[0, ok]]), byFilter([[4, ok], [5, ok]])]]]));
    expect(counts.filters.total).toBe(1);
    expect(counts.pictures.total).toBe(3);
    expect(describeCounts(countPictures(layers, new Map()))).toBe('0 filters (0 ok, 0 flagged, 0 dead, 0 failed), 0 pictures (0 ok, 0 flagged, 0 dead, 0 failed)');
  });
});

describe('countAtlas', () => {
  it("counts atlas.json's filters and their other pictures as countPictures counts the records", () => {
    const layers = [{ name: 'a', method: { kind: 'article' as const }, otherMethods: [{ kind: 'lucid' as const }] }];
    const atlas = {
      layers: [
        {
          ...layers[0],
          filters: [
            { filter: 0, ...ok, others: [{ kind: 'lucid' as const, ...picture('failed') }] },
            { filter: 1, ...picture('dead'), others: [{ kind: 'lucid' as const, ...ok }] },
          ],
        },
      ],
    };
    const records = new Map([['a', [byFilter([[0, ok], [1, picture('dead')]]), byFilter([[0, picture('failed')], [1, ok]])]]]);
    expect(countAtlas(atlas)).toEqual(countPictures(layers, records));
    expect(countAtlas(atlas).filters).toEqual({ total: 2, ok: 1, flagged: 0, dead: 1, failed: 0 });
  });
});
