/** checkComparable's warnings: what weakens the diff's signals without making the atlases incomparable. */
import { describe, expect, it } from 'vitest';
import type { Atlas, AtlasLayer } from '../../pipeline/atlas/schema.js';
import { checkComparable, type LoadedAtlas } from '../../pipeline/diff/read.js';

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
});
