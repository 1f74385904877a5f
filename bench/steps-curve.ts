/**
 * `npx tsx bench/steps-curve.ts [--sample 64] [--seed 1] [--lr 0.05] [--batch 8] [--steps 64,128,256,512] [--partial] [--out DIR]`
 * (issue 25, item 3): the class check of the lucid method at 64, 128, 256 and 512 steps (or the counts
 * given) on a seeded sample of darknet-tiny's conv2d_16 class filters (the same sample as
 * `npm run check:classes -- --sample N --seed S`; `--sample 1000`: every class, batched as a build batches
 * them, so the pictures are a build's at that step count and batch size).
 * One run per batch as long as the last count, its pictures snapshotted after the others: nothing in a step
 * depends on the total step count, so those are the pictures of runs that long (runLucid's snapshots,
 * tested in test/visualize/lucid.test.ts). Each picture is written as the PNG a build writes, classified
 * by the model (as the class check does): top-1, top-5 and seconds a filter per step count. Batches
 * whose pictures are on disk are not run again, so a stopped run resumes; `--partial` runs nothing and
 * classifies the classes done so far.
 */
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import { CODE_VERSIONS } from '../pipeline/atlas/keys.js';
import { classifyImages } from '../pipeline/classify/classify.js';
import { parseCount } from '../pipeline/cli/commands/visualize.js';
import { exitWithError } from '../pipeline/cli/exit.js';
import { sampleFilters } from '../pipeline/config/filters.js';
import { createEngine } from '../pipeline/engine/create.js';
import { userError } from '../pipeline/errors.js';
import { loadModel } from '../pipeline/model/load.js';
import { encodePng } from '../pipeline/render/images.js';
import { lucidParamsSchema } from '../pipeline/schema/lucid-params.js';
import { runLucid } from '../pipeline/visualize/lucid/loop.js';
import { channelMean } from '../pipeline/visualize/lucid/objective.js';

const LAYER = 'conv2d_16';

async function main(argv: string[]): Promise<void> {
  const flags = new Command('steps-curve')
    .option('--sample <n>', 'class filters in the seeded sample', '64')
    .option('--seed <s>', "the sample's seed (as check:classes --seed)", '1')
    .option('--lr <rate>', 'learning rate', '0.05')
    .option('--batch <n>', 'filters per run', '8')
    .option('--partial', 'run nothing: classify the classes whose pictures are on disk (a stopped run, so far)')
    .option('--steps <list>', 'step counts, ascending; the last is the length of each run', '64,128,256,512')
    .option('--out <dir>', 'where the pictures and curve.json go (default: output/steps-curve-sample<N>-seed<S>-lr<rate>-lucid<code version>)')
    .parse(argv)
    .opts<{ sample: string; seed: string; lr: string; batch: string; steps: string; partial?: boolean; out?: string }>();
  const sample = parseCount('--sample', flags.sample, 1);
  const seed = parseCount('--seed', flags.seed);
  const batch = parseCount('--batch', flags.batch, 1);
  const learningRate = Number(flags.lr);
  if (!(learningRate > 0 && learningRate <= 100)) throw userError({ where: '--lr', expected: 'a number in (0, 100]', received: JSON.stringify(flags.lr) });
  const counts = flags.steps.split(',').map((v) => parseCount('--steps', v.trim(), 1));
  if (counts.some((v, i) => i > 0 && v <= counts[i - 1])) throw userError({ where: '--steps', expected: 'step counts in ascending order, e.g. 64,128,256', received: flags.steps });
  const last = counts.at(-1)!;
  // The lucid code version in the folder's name: a resumed run never mixes pictures of different code.
  const out = resolve(flags.out ?? `output/steps-curve-sample${sample}-seed${seed}-lr${learningRate}-lucid${CODE_VERSIONS.lucid}`);
  const model = await loadModel('darknet-tiny');
  const classes = model.labels!.length;
  const filters = sampleFilters(Array.from({ length: classes }, (_, i) => i), sample, seed);
  const params = lucidParamsSchema.parse({ steps: last, learningRate });
  const picture = (steps: number, filter: number) => join(out, String(steps), `${filter}.png`);
  for (const steps of counts) await mkdir(join(out, String(steps)), { recursive: true });
  const secondsFile = join(out, 'seconds.json');
  // Seconds per filter up to each snapshot, per batch already run (kept for a resumed run).
  const seconds: Record<string, Record<number, number>> = existsSync(secondsFile) ? JSON.parse(await readFile(secondsFile, 'utf8')) : {};
  const engine = await createEngine(model, { engine: 'ort' });
  try {
    for (let first = 0; first < (flags.partial ? 0 : filters.length); first += batch) {
      const group = filters.slice(first, first + batch);
      if (group.every((f) => existsSync(picture(last, f)))) continue;
      const started = performance.now();
      const taken: Record<number, number> = {};
      await runLucid(engine, {
        objective: channelMean(LAYER, classes, group),
        n: group.length,
        copies: group.map(() => 0),
        params,
        learningRate,
        seed: 0,
        snapshots: {
          steps: counts,
          take: async (step, images) => {
            taken[step] = (performance.now() - started) / 1000 / group.length;
            const per = 3 * params.size * params.size;
            for (const [i, filter] of group.entries()) {
              const data = images.subarray(i * per, (i + 1) * per);
              await writeFile(picture(step, filter), await encodePng({ data, height: params.size, width: params.size }));
            }
          },
        },
        onStep: (done) => done % 64 === 0 && process.stderr.write(`steps-curve: filters ${group.join(',')}: ${done}/${last} steps, ${((performance.now() - started) / 1000).toFixed(0)} s\n`),
      });
      seconds[group.join(',')] = taken;
      await writeFile(secondsFile, JSON.stringify(seconds));
    }
    // A finished run classifies every class of the sample; --partial those done so far.
    const done = filters.filter((f) => existsSync(picture(last, f)));
    if (done.length === 0) throw userError({ where: out, expected: `pictures after ${last} steps`, received: 'none yet' });
    const rows = [];
    for (const steps of counts) {
      const results = await classifyImages(engine, model, done.map((f) => picture(steps, f)), { top: 5, batch: 16 });
      const top1 = results.filter((r, i) => r.top[0].index === done[i]).length;
      const top5 = results.filter((r, i) => r.top.some((t) => t.index === done[i])).length;
      const perFilter = Object.values(seconds).map((s) => s[steps]);
      const mean = perFilter.reduce((a, b) => a + b, 0) / perFilter.length;
      rows.push({ steps, filters: done.length, top1, top5, secondsPerFilter: mean });
    }
    const complete = done.length === filters.length;
    await writeFile(join(out, complete ? 'curve.json' : 'curve-partial.json'), JSON.stringify({ sample, seed, learningRate, batch, classes: done.length, rows }, null, 2));
    const so = complete ? '' : ` (so far: ${done.length} of the sample's ${filters.length}, classes ${done[0]} to ${done.at(-1)})`;
    console.log(`lucid steps curve, darknet-tiny ${LAYER}, ${done.length} classes${so} (sample seed ${seed}), lr ${learningRate}, batches of ${batch}:`);
    console.log('| steps | top-1 | top-5 | seconds a filter |\n|---|---|---|---|');
    const pct = (k: number) => `${k} / ${done.length} (${((100 * k) / done.length).toFixed(1)} %)`;
    for (const r of rows) console.log(`| ${r.steps} | ${pct(r.top1)} | ${pct(r.top5)} | ${r.secondsPerFilter.toFixed(1)} |`);
  } finally {
    await engine.dispose();
  }
}

main(process.argv).catch(exitWithError);
