import { join } from 'node:path';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine } from '../../pipeline/engine/engine.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { probeImage, topChannels } from '../../pipeline/probe/probe.js';
import { fakeEngine, fakeModel, writeIdImage } from '../dataset/fake.js';

describe('probeImage with a fake engine', () => {
  let folder: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fa-probe-'));
    await writeIdImage(folder, 'one.png', 40);
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  // c2: channel c is constant c * id / 10 except one cell of 100 in channel 0.
  const engine = fakeEngine((id, layer) => {
    const channels = layer === 'c2' ? 3 : 4;
    const size = layer === 'c2' ? 16 : 32;
    const out = new Float32Array(channels * size * size);
    for (let c = 0; c < channels; c++) out.fill((c * id) / 10, c * size * size, (c + 1) * size * size);
    out[0] = 100;
    return out;
  });

  it('returns the mean of every channel and the top K, labelled when the channels are the classes', async () => {
    const result = await probeImage(engine, fakeModel(), join(folder, 'one.png'), 'c2', 2);
    expect(result.means.map((m) => Number(m.toFixed(4)))).toEqual([Number((100 / 256).toFixed(4)), 4, 8]);
    expect(result.top).toEqual([
      { filter: 2, mean: result.means[2], label: 'two' },
      { filter: 1, mean: result.means[1], label: 'one' },
    ]);
    // The alias '2' addresses c2; c1 has 4 channels but the model has 3 labels: no labels.
    const c1 = await probeImage(engine, fakeModel(), join(folder, 'one.png'), '2', 1);
    expect(c1.top[0].label).toBe('two');
    const unlabelled = await probeImage(engine, fakeModel(), join(folder, 'one.png'), 'c1', 4);
    expect(unlabelled.top.map((t) => [t.filter, t.label])).toEqual([
      [3, undefined],
      [2, undefined],
      [1, undefined],
      [0, undefined],
    ]);
  });

  it('rejects a bad top K and an unreadable image with errors naming them', async () => {
    await expect(probeImage(engine, fakeModel(), join(folder, 'one.png'), 'c2', 0)).rejects.toThrow('--top: expected a positive integer, received 0');
    await expect(probeImage(engine, fakeModel(), join(folder, 'nope.png'), 'c2', 1)).rejects.toThrow(`${join(folder, 'nope.png')}: expected a readable JPEG, PNG or WebP image`);
  });

  it('orders ties by index and NaN last', () => {
    expect(topChannels([1, 3, NaN, 3, 2], 5)).toEqual([1, 3, 4, 0, 2]);
  });
});

describe('probe on darknet-tiny (real model, ImageNet photos)', () => {
  let model: CnnModel;
  let engine: Engine;
  let photos: string;
  beforeAll(async () => {
    model = await loadModel('darknet-tiny');
    engine = await createEngine(model, { engine: 'ort' });
    photos = await ensureAsset('imagenet-sample');
  });
  afterAll(() => engine?.dispose());

  it('spikes at the photo class at conv2d_16 (the class filters)', async () => {
    for (const file of ['n01440764_tench.JPEG', 'n04335435_streetcar.JPEG', 'n02012849_crane.JPEG']) {
      const classIndex = model.labelWnids!.indexOf(file.slice(0, 9));
      expect(classIndex).toBeGreaterThanOrEqual(0);
      const { means, top } = await probeImage(engine, model, join(photos, file), 'conv2d_16', 5);
      expect(means).toHaveLength(1000);
      expect(top[0]).toEqual({ filter: classIndex, mean: means[classIndex], label: model.labels![classIndex] });
      // A spike, not a plateau: well above the layer's typical response to this photo.
      const average = means.reduce((a, b) => a + b) / means.length;
      const std = Math.sqrt(means.reduce((a, b) => a + (b - average) ** 2, 0) / means.length);
      expect((top[0].mean - average) / std, file).toBeGreaterThan(4);
    }
  });
});
