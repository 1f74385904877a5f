/**
 * The article's method is unchanged by the lucid method's arrival (issue 16): the same seed, engine and
 * batch draw the PNG bytes the code before it drew (commit 2af1746, measured with onnxruntime on one
 * thread so that the thread count cannot move a rounding), and an article picture's record key is the
 * one it had (test/atlas/records.test.ts), so existing atlases reuse their pictures as they are.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createEngine } from '../../pipeline/engine/create.js';
import { loadModel } from '../../pipeline/model/load.js';
import { encodePng } from '../../pipeline/render/images.js';
import { visualizeBatch } from '../../pipeline/visualize/batch.js';
import { methodParamsSchema } from '../../pipeline/visualize/params.js';

/** sha256 of the PNGs of filters 0, 5 and 9, drawn by the code before the lucid method (commit 2af1746). */
const GOLDEN = [
  'de4a715fe700d65725e53c86d5ceb3d82e483a635eab0075e0411a58b9d8b294',
  '2b4cc77408bd63e7e65f37debc67126c734581671a03907848ab1fc5094d773b',
  '3aba5b95c8cba290fc08826d41fcecdc005050a30cf3061eddc7ee68b7f4826f',
];

describe("the article's pictures", () => {
  it('are byte for byte those of the code before the lucid method', async () => {
    const model = await loadModel('darknet-tiny');
    const engine = await createEngine(model, { engine: 'ort', threads: 1 });
    try {
      const params = methodParamsSchema.parse({ startSize: 32, scales: 2, stepsPerScale: 4 });
      const results = await visualizeBatch(engine, { layer: 'leaky_re_lu_2', channels: 32, filters: [0, 5, 9], method: { kind: 'article', params }, seed: 0 });
      const hashes = await Promise.all(results.map(async (r) => createHash('sha256').update(await encodePng(r.image!)).digest('hex')));
      expect(hashes).toEqual(GOLDEN);
    } finally {
      await engine.dispose();
    }
  });
});
