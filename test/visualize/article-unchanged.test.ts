/**
 * The article's method is unchanged by later work (issue 16 onwards): the same seed, engine and batch
 * draw the pictures the code before the lucid method drew (commit 2af1746, onnxruntime on one thread).
 * The pictures of that code are committed (test/fixtures/article-golden/, byte for byte what it wrote)
 * and compared pixel by pixel: another CPU's float32 kernels (AVX-512 against AVX2) may round an
 * 8-bit value the other way, which is not a change of method. Measured on this schedule: onnxruntime
 * at 1 and 2 threads and the tfjs wasm engine all write the same bytes (activations within 2e-7), so
 * a difference of more than one grey level, or in more than 1 % of the values, is a real change. An
 * article picture's record key is the one it had (test/atlas/records.test.ts), so existing atlases
 * reuse their pictures as they are.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../pipeline/engine/create.js';
import { loadModel } from '../../pipeline/model/load.js';
import { encodePng } from '../../pipeline/render/images.js';
import { visualizeBatch } from '../../pipeline/visualize/batch.js';
import { methodParamsSchema } from '../../pipeline/schema/article-params.js';

const GOLDEN = join(import.meta.dirname, '../fixtures/article-golden');
const FILTERS = [0, 5, 9];

async function pixels(png: Buffer | string): Promise<Buffer> {
  return sharp(png).raw().toBuffer();
}

describe("the article's pictures", () => {
  it('are those of the code before the lucid method, within one grey level', async () => {
    const model = await loadModel('darknet-tiny');
    const engine = await createEngine(model, { engine: 'ort', threads: 1 });
    try {
      const params = methodParamsSchema.parse({ startSize: 32, scales: 2, stepsPerScale: 4 });
      const results = await visualizeBatch(engine, { layer: 'leaky_re_lu_2', channels: 32, filters: FILTERS, method: { kind: 'article', params }, seed: 0 });
      for (const [i, result] of results.entries()) {
        const drawn = await pixels(await encodePng(result.image!));
        const golden = await pixels(join(GOLDEN, `leaky_re_lu_2-${FILTERS[i]}.png`));
        expect(drawn.length, `filter ${FILTERS[i]}: picture size`).toBe(golden.length);
        let worst = 0;
        let differing = 0;
        for (let k = 0; k < golden.length; k++) {
          const d = Math.abs(drawn[k] - golden[k]);
          worst = Math.max(worst, d);
          if (d > 0) differing++;
        }
        expect(worst, `filter ${FILTERS[i]}: largest difference in grey levels`).toBeLessThanOrEqual(1);
        expect(differing / golden.length, `filter ${FILTERS[i]}: fraction of values that differ`).toBeLessThanOrEqual(0.01);
      }
    } finally {
      await engine.dispose();
    }
  });

  it('notices a picture that moved by more than rounding', async () => {
    // The comparison itself: the golden picture of filter 0 against that of filter 5 must fail it.
    const a = await pixels(join(GOLDEN, 'leaky_re_lu_2-0.png'));
    const b = await pixels(join(GOLDEN, 'leaky_re_lu_2-5.png'));
    let worst = 0;
    for (let k = 0; k < a.length; k++) worst = Math.max(worst, Math.abs(a[k] - b[k]));
    expect(worst).toBeGreaterThan(1);
  });
});
