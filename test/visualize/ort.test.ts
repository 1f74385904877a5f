/**
 * The method on the real ORT engine and darknet-tiny with a short schedule (3 scales x 5 steps,
 * 56 -> 80 px): the visualisation must excite its filter far more than the noise it starts from
 * and than real photos do, and must repeat byte for byte with the same seed, engine and batch.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { createEngine } from '../../pipeline/engine/create.js';
import type { Engine } from '../../pipeline/engine/engine.js';
import { loadImageForModel } from '../../pipeline/image/load.js';
import type { CnnModel } from '../../pipeline/model/graph.js';
import { loadModel } from '../../pipeline/model/load.js';
import { encodePng } from '../../pipeline/render/images.js';
import { visualizeBatch, type FilterVisualization } from '../../pipeline/visualize/batch.js';
import { runAscent } from '../../pipeline/visualize/loop.js';
import { channelObjective, objectiveValues } from '../../pipeline/visualize/objective.js';
import { noiseImage, pixelSpace } from '../../pipeline/visualize/parameterization.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';

const LAYER = 'leaky_re_lu_12';
const FILTERS = [0, 2];
const params = methodParamsSchema.parse({ scales: 3, stepsPerScale: 5 });

describe('visualisation with onnxruntime on darknet-tiny', () => {
  let model: CnnModel;
  let engine: Engine;
  let results: FilterVisualization[];

  beforeAll(async () => {
    model = await loadModel('darknet-tiny');
    engine = await createEngine(model, { engine: 'ort' });
    results = await visualizeBatch(engine, { layer: LAYER, channels: 512, filters: FILTERS, method: { kind: 'article', params }, seed: 0 });
  });
  afterAll(async () => {
    await engine?.dispose();
  });

  it('raises each filter far above its start', () => {
    for (const result of results) {
      expect(result.status).toBe('ok');
      expect(result.flags).toMatchObject({ dead: false, diverged: false, lowContrast: false });
      expect(result.image!.width).toBe(80);
      // Measured: starts -0.19 / -0.07, ends 3.6 / 4.4.
      expect(result.activation - result.startActivation).toBeGreaterThan(2);
    }
  });

  it('excites each filter more than any of the test photos does', async () => {
    const folder = await ensureAsset('photos');
    const files = (await readdir(folder)).filter((f) => /\.(png|jpe?g)$/i.test(f));
    expect(files.length).toBeGreaterThanOrEqual(5);
    const best = new Array(FILTERS.length).fill(-Infinity);
    for (const file of files) {
      const image = await loadImageForModel(join(folder, file), model.preprocessing);
      const maps = (await engine.forward({ data: image.data, n: 1, height: image.height, width: image.width }, [LAYER])).get(LAYER)!;
      const plane = maps.height * maps.width;
      FILTERS.forEach((filter, i) => {
        const mean = maps.data.subarray(filter * plane, (filter + 1) * plane).reduce((a, b) => a + b, 0) / plane;
        best[i] = Math.max(best[i], mean);
      });
    }
    // Measured: photos reach at most 0.27 on these filters; the 15-step visualisations about 4.
    results.forEach((result, i) => expect(result.activation).toBeGreaterThan(3 * best[i] + 1));
  });

  it("matches the PyTorch port of the article (seed_reference.py) from the same start image", async () => {
    // Expected: /usr/bin/python3 seed_reference.py --model darknet-tiny --layer leaky_re_lu_12 --filters 0,2
    //   --batch --init START.png --scales S --steps N, where START.png is noiseImage(0, 56) as PNG (whole
    // bytes, so lossless). That port runs the article exactly: the model's own input space, no clipping.
    // Measured: one scale agrees to 1e-7 per pixel and 1e-7 in activation. Across scales the run is
    // chaotic in float rounding (docs/design.md section 2.3: Adam's first step moves every pixel by ~lr whatever
    // the size of its gradient, so a pixel whose gradient is ~0 goes either way); 2 x 2 agreed to 2e-4,
    // while 3 x 2 already differed by 6 %. Hence short schedules and a 1 % tolerance.
    const start = noiseImage(0, 56, [150 / 255, 180 / 255]);
    const starts = new Float32Array(2 * start.length);
    starts.set(start);
    starts.set(start, start.length);
    const objective = channelObjective(LAYER, 512, FILTERS);
    const cases = [
      { scales: 1, steps: 5, expected: [2.267229, 2.738858] },
      { scales: 2, steps: 2, expected: [0.282303, 0.742048] },
    ];
    for (const { scales, steps, expected } of cases) {
      const article = methodParamsSchema.parse({ scales, stepsPerScale: steps, space: 'model', clipBetweenScales: false });
      const result = await runAscent(engine, {
        objective,
        filters: FILTERS,
        params: article,
        learningRate: article.learningRate,
        seed: 0,
        space: pixelSpace('model', model.preprocessing),
        start: starts,
      });
      const values = await objectiveValues(engine, objective, { data: result.images, n: 2, height: result.size, width: result.size });
      expected.forEach((value, i) => expect(Math.abs(values[i] - value) / Math.abs(value), `${scales}x${steps} filter ${FILTERS[i]}`).toBeLessThan(0.01));
    }
  });

  it('repeats byte for byte with the same seed, engine and batch', async () => {
    const again = await visualizeBatch(engine, { layer: LAYER, channels: 512, filters: FILTERS, method: { kind: 'article', params }, seed: 0 });
    for (const [i, result] of again.entries()) {
      expect((await encodePng(result.image!)).equals(await encodePng(results[i].image!))).toBe(true);
      expect(result.activation).toBe(results[i].activation);
    }
  });
});
