/** checkComparable's warnings: what weakens the diff's signals without making the atlases incomparable. */
import { describe, expect, it } from 'vitest';
import type { Atlas, AtlasLayer } from '../../pipeline/schema/atlas.js';
import { checkComparable, type LoadedAtlas } from '../../pipeline/diff/read.js';
import { commonKind, pictureOf } from '../../pipeline/diff/methods.js';

const method = (params: Record<string, unknown>) => ({ description: 'd', params });

function layer(name: string, params?: Record<string, unknown>): AtlasLayer {
  return { name, index: 1, kind: 'conv', channels: 4, filters: [], datasetMeans: `${name}.f32`, ...(params ? { method: method(params) } : {}) };
}

function loaded(file: string, layers: AtlasLayer[], params: Record<string, unknown> = { scales: 4, stepsPerScale: 10 }): LoadedAtlas {
  const atlas: Atlas = {
    schemaVersion: 1,
    id: file,
    title: file,
    createdAt: '2026-12-01T00:00:00.000Z',
    complete: true,
    model: { name: 'm', spec: 'm', version: '1', format: 'tfjs-layers', weightsDigest: file, inputSize: [224, 224] },
    engine: { name: 'ort', device: 'cpu' },
    method: method(params),
    dataset: { name: 'd', digest: 'same', images: ['a.jpg'], skipped: [] },
    layers,
    probes: [],
  };
  return { dir: `/atlases/${file}`, file: `/atlases/${file}/atlas.json`, atlas };
}

describe('checkComparable', () => {
  it("warns about a layer whose own method overrides differ, though the atlases' top-level methods match", () => {
    const a = loaded('a', [layer('conv1', { scales: 4, stepsPerScale: 10 }), layer('conv2', { scales: 2, stepsPerScale: 10 })]);
    const b = loaded('b', [layer('conv1', { stepsPerScale: 10, scales: 4 }), layer('conv2', { scales: 3, stepsPerScale: 10 })]);
    expect(checkComparable(a, b)).toEqual([
      'layer conv2 used different method parameters in the two atlases: their visualisations differ for that reason alone, so SSIM means less',
    ]);
  });

  it('compares parameters whatever their key order, and falls back to the top-level method for layers without their own', () => {
    const a = loaded('a', [layer('conv1'), layer('conv2')], { scales: 4, stepsPerScale: 10 });
    const b = loaded('b', [layer('conv1', { stepsPerScale: 10, scales: 4 }), layer('conv2')], { stepsPerScale: 10, scales: 4 });
    expect(checkComparable(a, b)).toEqual([]);
    const c = loaded('c', [layer('conv1'), layer('conv2')], { scales: 5, stepsPerScale: 10 });
    expect(checkComparable(a, c)).toEqual(['the atlases used different method parameters: visualisations differ for that reason alone, so SSIM means less']);
  });

  it('compares like with like: the method both atlases have, and says when a layer shares none', () => {
    const article = { kind: 'article' as const, description: 'd', params: { scales: 4, stepsPerScale: 10 } };
    const lucid = (steps: number) => ({ kind: 'lucid' as const, description: 'd', params: { steps } });
    const both = (steps: number): AtlasLayer => ({ ...layer('conv1'), method: article, otherMethods: [lucid(steps)] });
    const onlyLucid = (steps: number): AtlasLayer => ({ ...layer('conv1'), method: lucid(steps) });
    // A has article + lucid, B lucid alone: the lucid pictures are compared, with equal parameters.
    const a = loaded('a', [both(512)]);
    expect(checkComparable(a, { ...loaded('b', [onlyLucid(512)]), atlas: { ...loaded('b', [onlyLucid(512)]).atlas, method: lucid(512) } })).toEqual([]);
    // The same pairing with other lucid parameters is reported for that layer.
    const b2 = loaded('b2', [onlyLucid(256)]);
    expect(checkComparable(a, { ...b2, atlas: { ...b2.atlas, method: lucid(256) } })).toEqual([
      'layer conv1 used different method parameters in the two atlases: their visualisations differ for that reason alone, so SSIM means less',
    ]);
    // Article against lucid: nothing in common to compare pictures by.
    const c = loaded('c', [layer('conv1', { scales: 4, stepsPerScale: 10 })]);
    const d = loaded('d', [onlyLucid(512)]);
    expect(checkComparable(c, { ...d, atlas: { ...d.atlas, method: lucid(512) } })).toEqual([
      'layer conv1 shares no visualisation method in the two atlases (e.g. article against lucid): their pictures are not compared (no cross-activation, no SSIM)',
    ]);
  });

  it("picks each side's picture of the shared method", () => {
    const flags = { dead: false, diverged: false, lowContrast: false, clippedFraction: 0 };
    const filter = { filter: 0, key: 'a', status: 'ok' as const, image: 'article.png', activation: 1, seconds: 1, flags, others: [{ kind: 'lucid' as const, key: 'l', status: 'ok' as const, image: 'lucid.png', activation: 2, seconds: 3, flags }] };
    const both: AtlasLayer = { ...layer('conv1'), method: { kind: 'article', description: 'd', params: {} }, otherMethods: [{ kind: 'lucid', description: 'd', params: {} }], filters: [filter] };
    const lucidOnly: AtlasLayer = { ...layer('conv1'), method: { kind: 'lucid', description: 'd', params: {} } };
    const articleOnly = layer('conv1');
    expect(commonKind(both, lucidOnly)).toBe('lucid');
    expect(commonKind(both, articleOnly)).toBe('article');
    expect(commonKind(articleOnly, lucidOnly)).toBeUndefined();
    expect(pictureOf(filter, both, 'lucid')?.image).toBe('lucid.png');
    expect(pictureOf(filter, both, 'article')?.image).toBe('article.png');
  });
});
