/**
 * `visualize`, `probe` and `build` on every torchvision classifier of the operator issue, through
 * their ONNX exports (opset 17, from test/torch/fixtures.py): the real commands, in process, at a
 * late layer, with a short schedule, 4 dataset photos and one probe.
 */
import { Command } from 'commander';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { atlasSchema } from '../../pipeline/schema/atlas.js';
import { defineBuildCommand } from '../../pipeline/cli/commands/build.js';
import { defineProbeCommand } from '../../pipeline/cli/commands/probe.js';
import { defineVisualizeCommand } from '../../pipeline/cli/commands/visualize.js';
import type { DefineCommand } from '../../pipeline/cli/commands/define.js';
import { torchFixtures } from '../torch/fixtures.js';

const fixtures = await torchFixtures();

async function run(define: DefineCommand, args: string[]): Promise<string> {
  const program = new Command('filter-atlas').exitOverride();
  define(program);
  let out = '';
  const stdout = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((out += String(chunk)), true));
  const stderr = vi.spyOn(process.stderr, 'write').mockImplementation(() => true);
  try {
    await program.parseAsync(['node', 'filter-atlas', ...args]);
  } finally {
    stdout.mockRestore();
    stderr.mockRestore();
  }
  return out;
}

/** The last JSON object a command printed (one per line). */
const jsonLines = (out: string): Record<string, unknown>[] => out.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));

describe.skipIf(!fixtures)('visualize, probe and build on torchvision classifiers (ONNX, opset 17)', () => {
  const architectures = [...new Map((fixtures?.cases ?? []).filter((c) => !c.arch.startsWith('zoo-') && c.opset === 17 && c.layers.length > 0).map((c) => [c.arch, c])).values()];
  let work: string;
  let photo: string;
  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'fa-torchvision-'));
    photo = join(await ensureAsset('photos'), 'chelsea.png');
  });
  afterAll(async () => {
    await rm(work, { recursive: true, force: true });
  });

  for (const c of architectures) {
    // The late module: its filters are visualised and probed (the logits too, where the model has a head).
    const layer = c.layers[1].layer;
    it(`${c.arch}: ${layer}`, async () => {
      const model = join(fixtures!.dir, c.onnx);
      const output = join(work, c.arch);
      // inception_v3 needs at least 75 px; 80 -> 96 px keeps every model's late layer at 1x1 or more.
      const schedule = ['--size', '80', '--scales', '2', '--steps', '2'];
      const drawn = jsonLines(await run(defineVisualizeCommand, ['visualize', model, '--layer', layer, '--filters', '0,1', ...schedule, '--output', output, '--json']));
      expect(drawn.map((d) => d.filter)).toEqual([0, 1]);
      for (const d of drawn) {
        expect(Number.isFinite(d.activation), `${c.arch} filter ${d.filter} activation`).toBe(true);
        expect((await readFile(String(d.image))).subarray(1, 4).toString()).toBe('PNG');
      }

      const [probe] = jsonLines(await run(defineProbeCommand, ['probe', model, photo, '--layer', layer, '--json']));
      expect((probe.means as number[]).length).toBe(c.layers[1].shape[1]);
      expect((probe.means as number[]).every(Number.isFinite)).toBe(true);

      const config = join(work, `${c.arch}.yaml`);
      await writeFile(
        config,
        [
          `atlas: ${c.arch}`,
          `model: ${model}`,
          'layers:',
          `  - layer: "${layer}"`,
          '    filters: [0, 1]',
          ...(c.layers[2] ? [`  - layer: "${c.layers[2].layer}"`, '    filters: [0]'] : []),
          'method: { startSize: 80, scales: 2, stepsPerScale: 2 }',
          'dataset: { source: imagenet-sample, limit: 4, topK: 2, batchSize: 4 }',
          'probes:',
          `  - { image: photos/chelsea.png, layer: "${layer}", top: 3 }`,
        ].join('\n'),
      );
      await run(defineBuildCommand, ['build', config, '--output', output, '--json']);
      const atlas = atlasSchema.parse(JSON.parse(await readFile(join(output, c.arch, 'atlas.json'), 'utf8')));
      expect(atlas.complete).toBe(true);
      expect(atlas.layers.map((l) => l.filters.length)).toEqual(c.layers[2] ? [2, 1] : [2]);
      for (const l of atlas.layers) for (const f of l.filters) expect(f.image && f.top?.length, `${l.name} filter ${f.filter}`).toBeTruthy();
      expect(atlas.probes[0].top).toHaveLength(3);
    });
  }
});
