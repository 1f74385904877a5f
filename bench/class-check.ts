/**
 * `npm run check:classes -- output/<atlas>` (or `-- config/classes.yaml`): the class check of docs/design.md
 * section 2.5. For an atlas whose layer has one filter per class (darknet-tiny conv2d_16), the
 * visualisation of class c, classified by the same model (as `filter-atlas classify` does), should come
 * out as c: top-1, top-5 and seconds per filter for every method of that layer (the article's and lucid's
 * when the config lists both), on the same filters. And the probe check: a dataset photo of class c should
 * spike at filter c; the dataset scan's per-image channel means give that for every scanned photo at once.
 *
 * Given a config instead of an atlas, it builds it first; `--sample N --seed S` then restricts the class
 * layer to a seeded subset of N filters (into the atlas `<atlas>-sample<N>-seed<S>`), for machines where
 * 1000 lucid filters are too many. `--misses` lists each picture classified as another class, with the
 * class's rank (bench/class-misses.ts).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { runBuild } from '../pipeline/atlas/build.js';
import { atlasSchema, type Atlas, type AtlasLayer, type MethodKindName } from '../pipeline/schema/atlas.js';
import { classifyImages } from '../pipeline/classify/classify.js';
import { classMisses, missesByRank, type ClassMiss } from './class-misses.js';
import { buildDeps } from '../pipeline/cli/commands/build.js';
import { parseCount } from '../pipeline/cli/commands/visualize.js';
import { exitWithError } from '../pipeline/cli/exit.js';
import { resolveFilters, sampleFilters } from '../pipeline/config/filters.js';
import { DEFAULT_OUTPUT, loadConfig } from '../pipeline/config/load.js';
import { createEngine } from '../pipeline/engine/create.js';
import { userError } from '../pipeline/errors.js';
import { findLayer } from '../pipeline/model/layers.js';
import { loadModel } from '../pipeline/model/load.js';

interface Flags {
  json?: boolean;
  misses?: boolean;
  sample?: string;
  seed: string;
}

export interface MethodScore {
  kind: MethodKindName;
  description: string;
  filters: number;
  top1: number;
  top5: number;
  /** Mean of the filters' recorded optimisation seconds (batch time / batch size, as built). */
  secondsPerFilter: number;
  /** With `--misses`: the pictures classified as another class. */
  misses?: ClassMiss[];
}

/** A config: builds it (the class layer restricted to the seeded sample when asked) and returns the atlas folder. */
async function buildConfig(file: string, sample: number | undefined, seed: number): Promise<string> {
  const config = await loadConfig(file);
  if (sample !== undefined) {
    const model = await loadModel(config.model, { ...(config.arch ? { arch: config.arch } : {}) });
    const classes = model.labels?.length;
    config.layers = config.layers.map((entry, i) => {
      const { channels } = findLayer(model, entry.layer);
      if (channels !== classes) return entry;
      const all = resolveFilters(entry.filters, channels, config.locate(['layers', i, 'filters']));
      return { ...entry, filters: sampleFilters(all, sample, seed) };
    });
    config.atlas = `${config.atlas}-sample${sample}-seed${seed}`;
  }
  const summary = await runBuild(config, await buildDeps(config));
  process.stderr.write(`built ${summary.atlasDir}: ${summary.filtersComputed} filters computed, ${summary.filtersReused} reused, ${summary.seconds.toFixed(1)} s\n`);
  return config.output ? join(config.output, config.atlas) : resolve(DEFAULT_OUTPUT, config.atlas);
}

/** Each method of the layer (main first) with its picture per filter. */
function methodPictures(atlas: Atlas, layer: AtlasLayer): Array<{ kind: MethodKindName; description: string; pictures: Map<number, { image: string; seconds: number }> }> {
  const main = layer.method ?? atlas.method;
  const methods = [{ kind: main.kind ?? 'article', description: main.description, pictures: new Map<number, { image: string; seconds: number }>() }];
  (layer.otherMethods ?? []).forEach((m) => methods.push({ kind: m.kind ?? 'article', description: m.description, pictures: new Map() }));
  for (const filter of layer.filters) {
    if (filter.image) methods[0].pictures.set(filter.filter, { image: filter.image, seconds: filter.seconds });
    (filter.others ?? []).forEach((view, k) => view.image && methods[k + 1]?.pictures.set(filter.filter, { image: view.image, seconds: view.seconds }));
  }
  return methods;
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('check:classes')
    .argument('<atlas>', 'atlas folder (output/<atlas>), or a YAML config to build first')
    .option('--sample <n>', 'only a seeded subset of n class filters (with a config: build only those)')
    .option('--seed <s>', "the subset's seed", '1')
    .option('--json', 'print one JSON object')
    .option('--misses', "list each picture classified as another class: the winner, the class's rank and both probabilities")
    .parse(argv);
  const flags = program.opts<Flags>();
  const sample = flags.sample === undefined ? undefined : parseCount('--sample', flags.sample, 1);
  const seed = parseCount('--seed', flags.seed);
  const given = program.args[0];
  const dir = /\.ya?ml$/i.test(given) ? await buildConfig(given, sample, seed) : resolve(given);
  const atlas = atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
  const model = await loadModel(atlas.model.spec);
  const classes = model.labels?.length;
  const layer = atlas.layers.find((l) => l.channels === classes);
  if (!classes || !layer) {
    throw userError({ where: dir, expected: `an atlas with a layer of one filter per class (${classes ?? 'no'} classes)`, received: atlas.layers.map((l) => `${l.name} (${l.channels})`).join(', ') });
  }
  const methods = methodPictures(atlas, layer);
  // The same filters for every method: those every method drew (a failed filter has no picture).
  let filters = layer.filters.map((f) => f.filter).filter((f) => methods.every((m) => m.pictures.has(f)));
  if (sample !== undefined) filters = sampleFilters(filters, sample, seed);
  const engine = await createEngine(model, { engine: 'ort' });
  const scores: MethodScore[] = [];
  try {
    for (const method of methods) {
      const results = await classifyImages(engine, model, filters.map((f) => join(dir, method.pictures.get(f)!.image)), { top: flags.misses ? classes : 5, batch: 16 });
      let top1 = 0;
      let top5 = 0;
      results.forEach((result, i) => {
        if (result.top[0].index === filters[i]) top1++;
        if (result.top.slice(0, 5).some((t) => t.index === filters[i])) top5++;
      });
      const seconds = filters.reduce((sum, f) => sum + method.pictures.get(f)!.seconds, 0) / Math.max(1, filters.length);
      scores.push({
        kind: method.kind,
        description: method.description,
        filters: filters.length,
        top1: top1 / filters.length,
        top5: top5 / filters.length,
        secondsPerFilter: seconds,
        ...(flags.misses ? { misses: classMisses(results, filters, model.labels!) } : {}),
      });
    }
  } finally {
    await engine.dispose();
  }
  const probe = await probeCheck(dir, atlas, layer, model.labelWnids);
  const summary = { atlas: atlas.id, layer: layer.name, classes: filters.length, ...(sample !== undefined ? { sample, seed } : {}), methods: scores, probe };
  if (flags.json) {
    console.log(JSON.stringify(summary));
    return;
  }
  const pct = (v: number) => `${(100 * v).toFixed(1)} %`;
  for (const s of scores) {
    console.log(
      `${atlas.id} ${layer.name} [${s.kind}]: visualisation of class c classified as c for ${Math.round(s.top1 * s.filters)}/${s.filters} classes ` +
        `(top-1 ${pct(s.top1)}), top-5 ${pct(s.top5)}, ${s.secondsPerFilter.toFixed(2)} s per filter`,
    );
    if (!s.misses) continue;
    for (const m of s.misses) {
      console.log(`  ${m.filter} ${m.label} -> ${m.winner}: p ${m.prob.toFixed(3)} against ${m.winnerProb.toFixed(3)}, the class ${m.rank === null ? 'not ranked' : `at rank ${m.rank}`}`);
    }
    console.log(`  ${s.misses.length} misses by the class's rank: ${missesByRank(s.misses)}`);
  }
  if (probe) console.log(`${atlas.id} ${layer.name}: probing a dataset photo of class c spikes at filter c for ${probe.top1Count}/${probe.photos} photos (top-1 ${pct(probe.top1)}), top-5 ${pct(probe.top5)}`);
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
