/**
 * A layer whose batches cannot fit in memory is refused before any work, with the numbers and the
 * way out, also when `batch.size: auto` would fall back to one image.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild } from '../../pipeline/atlas/build.js';
import { checkBatchMemory } from '../../pipeline/atlas/memory.js';
import { resolveSource } from '../../pipeline/atlas/sources.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { listDataset } from '../../pipeline/dataset/list.js';
import { loadModel } from '../../pipeline/model/load.js';
import { FilterAtlasError } from '../../pipeline/errors.js';

const GIB = 2 ** 30;

describe('checkBatchMemory', () => {
  it('accepts what fits, refuses what does not, and says what to lower', () => {
    const plan = { where: 'a.yaml: layers[0] (conv2d_16)', bytesPerImage: 2 * GIB, batchSize: 4, concurrency: 1, auto: false };
    expect(() => checkBatchMemory(plan, 8 * GIB)).not.toThrow();
    expect(() => checkBatchMemory({ ...plan, concurrency: 2 }, 8 * GIB)).toThrow(
      "a.yaml: layers[0] (conv2d_16): expected a visualisation that fits in this machine's memory (8.0 GiB), received about 2.0 GiB per image at the final size x 8 images at once = 16.0 GiB. Lower batch.size or batch.concurrency, or the final image size (method: startSize, scales, upscale).",
    );
    // auto already fell back to one image: only the image size can change.
    expect(() => checkBatchMemory({ ...plan, batchSize: 1, auto: true, bytesPerImage: 9 * GIB }, 8 * GIB)).toThrow(
      'about 9.0 GiB per image at the final size x 1 image at once = 9.0 GiB. Lower the final image size (method: startSize, scales, upscale) or visualise an earlier layer.',
    );
  });

  it('stops a build whose batches cannot fit before it starts any engine', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filter-atlas-memory-'));
    const file = join(dir, 'big.yaml');
    // 2048 px images of darknet-tiny conv2d_16 (about 2 GiB each), 32 per batch, 64 batches at once.
    await writeFile(file, 'model: darknet-tiny\nlayers: [conv2d_16]\nmethod: {startSize: 1024, scales: 2, upscale: 2}\nbatch: {size: 32, concurrency: 64}\n');
    const config = await loadConfig(file);
    config.output = join(dir, 'out');
    let engines = 0;
    const error = await runBuild(config, {
      loadModel,
      createEngine: async () => {
        engines += 1;
        throw new Error('no engine expected');
      },
      resolveSource: (source, signal) => resolveSource(source, dirname(config.file), signal),
      listDataset,
      progress: () => ({ tick() {}, skip() {}, log() {}, stop() {} }),
      log: () => {},
      now: () => new Date(),
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FilterAtlasError);
    expect((error as Error).message).toMatch(/^.*big\.yaml:\d+: layers\[0\] \(conv2d_16\): expected a visualisation that fits in this machine's memory .* x 2048 images at once/);
    expect(engines).toBe(0);
  });
});
