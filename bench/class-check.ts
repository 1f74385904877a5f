/**
 * `npm run check:classes -- output/<atlas>`: DESIGN.md section 7's class check. For an atlas whose
 * layer has one filter per class (darknet-tiny conv2d_16), the visualisation of class c, classified
 * by the same model (as `filter-atlas classify` does), should come out as c. Prints top-1 / top-5.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { atlasSchema } from '../pipeline/atlas/schema.js';
import { classifyImages } from '../pipeline/classify/classify.js';
import { exitWithError } from '../pipeline/cli/exit.js';
import { createEngine } from '../pipeline/engine/create.js';
import { userError } from '../pipeline/errors.js';
import { loadModel } from '../pipeline/model/load.js';

async function main(argv: string[]): Promise<void> {
  const program = new Command('check:classes')
    .argument('<atlas>', 'atlas folder (output/<atlas>)')
    .option('--json', 'print one JSON object')
    .parse(argv);
  const dir = resolve(program.args[0]);
  const atlas = atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
  const model = await loadModel(atlas.model.spec);
  const classes = model.labels?.length;
  const layer = atlas.layers.find((l) => l.channels === classes);
  if (!classes || !layer) {
    throw userError({ where: dir, expected: `an atlas with a layer of one filter per class (${classes ?? 'no'} classes)`, received: atlas.layers.map((l) => `${l.name} (${l.channels})`).join(', ') });
  }
  const filters = layer.filters.filter((f) => f.image);
  const engine = await createEngine(model, { engine: 'ort' });
  let top1 = 0;
  let top5 = 0;
  try {
    const results = await classifyImages(engine, model, filters.map((f) => join(dir, f.image!)), { top: 5, batch: 16 });
    results.forEach((result, i) => {
      const wanted = filters[i].filter;
      if (result.top[0].index === wanted) top1++;
      if (result.top.some((t) => t.index === wanted)) top5++;
    });
  } finally {
    await engine.dispose();
  }
  const summary = { atlas: atlas.id, layer: layer.name, classes: filters.length, top1: top1 / filters.length, top5: top5 / filters.length };
  if (program.opts<{ json?: boolean }>().json) console.log(JSON.stringify(summary));
  else console.log(`${atlas.id} ${layer.name}: visualisation of class c classified as c for ${top1}/${filters.length} classes (top-1 ${(100 * summary.top1).toFixed(1)} %), top-5 ${(100 * summary.top5).toFixed(1)} %`);
}

main(process.argv).catch(exitWithError);
