/**
 * `npm run check:classes -- output/<atlas>`: the class check of docs/design.md section 2.5. For an atlas whose
 * layer has one filter per class (darknet-tiny conv2d_16), the visualisation of class c, classified
 * by the same model (as `filter-atlas classify` does), should come out as c. And the probe check:
 * a dataset photo of class c should spike at filter c; the dataset scan's per-image channel means
 * (the probe's numbers, at the model's input size) give that for every scanned photo at once.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { atlasSchema, type Atlas, type AtlasLayer } from '../pipeline/atlas/schema.js';
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
  const probe = await probeCheck(dir, atlas, layer, model.labelWnids);
  const summary = { atlas: atlas.id, layer: layer.name, classes: filters.length, top1: top1 / filters.length, top5: top5 / filters.length, probe };
  if (program.opts<{ json?: boolean }>().json) {
    console.log(JSON.stringify(summary));
    return;
  }
  console.log(`${atlas.id} ${layer.name}: visualisation of class c classified as c for ${top1}/${filters.length} classes (top-1 ${(100 * summary.top1).toFixed(1)} %), top-5 ${(100 * summary.top5).toFixed(1)} %`);
  if (probe) console.log(`${atlas.id} ${layer.name}: probing a dataset photo of class c spikes at filter c for ${probe.top1Count}/${probe.photos} photos (top-1 ${(100 * probe.top1).toFixed(1)} %), top-5 ${(100 * probe.top5).toFixed(1)} %`);
}

/** Top-1 / top-5 of the class filters' mean activations over the scanned photos whose file names carry a wnid. */
async function probeCheck(dir: string, atlas: Atlas, layer: AtlasLayer, wnids: string[] | undefined) {
  if (!atlas.dataset || !layer.datasetMeans || !wnids) return undefined;
  const bytes = await readFile(join(dir, layer.datasetMeans));
  const means = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
  const classOf = new Map(wnids.map((wnid, index) => [wnid, index]));
  let photos = 0;
  let top1Count = 0;
  let top5Count = 0;
  atlas.dataset.images.forEach((file, image) => {
    const wanted = classOf.get(file.split('_')[0]);
    if (wanted === undefined) return;
    const row = means.subarray(image * layer.channels, (image + 1) * layer.channels);
    const above = row.reduce((count, value) => count + (value > row[wanted] ? 1 : 0), 0);
    photos++;
    if (above === 0) top1Count++;
    if (above < 5) top5Count++;
  });
  return { photos, top1Count, top1: top1Count / photos, top5: top5Count / photos };
}

main(process.argv).catch(exitWithError);
