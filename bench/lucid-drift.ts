/**
 * How far two lucid runs drift apart when their numbers differ by float rounding (issue 25: the kernels'
 * float32 against the JavaScript's float64). Four class filters of darknet-tiny conv2d_16 at the lucid
 * defaults (128 steps), pictures snapshotted after 1, 2, 4, ..., 128 steps:
 *
 *   npx tsx bench/lucid-drift.ts                 this code against itself with the start spectrum x (1 + 1e-6)
 *   npx tsx bench/lucid-drift.ts --dump DIR      write this code's snapshots to DIR (run it in another checkout)
 *   npx tsx bench/lucid-drift.ts --against DIR   this code against the snapshots in DIR
 *
 * Prints, per step count, the largest and the mean |difference| of the pictures' values (0 to 1). Uses
 * only runLucid's snapshots, so the file runs unchanged in a checkout from before the kernels (aaf2438).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createEngine } from '../pipeline/engine/create.js';
import { loadModel } from '../pipeline/model/load.js';
import { defaultLucidParams } from '../pipeline/schema/lucid-params.js';
import { runLucid } from '../pipeline/visualize/lucid/loop.js';
import { channelMean } from '../pipeline/visualize/lucid/objective.js';

const FILTERS = [1, 207, 439, 654];
const STEPS = [1, 2, 4, 8, 16, 32, 64, 128];

async function snapshots(initStd: number): Promise<Map<number, Float32Array>> {
  const engine = await createEngine(await loadModel('darknet-tiny'), { engine: 'ort' });
  const taken = new Map<number, Float32Array>();
  try {
    const params = { ...defaultLucidParams, steps: STEPS.at(-1)!, initStd };
    const objective = channelMean('conv2d_16', 1000, FILTERS);
    const snapshots = { steps: STEPS, take: (step: number, images: Float32Array) => void taken.set(step, images) };
    await runLucid(engine, { objective, n: FILTERS.length, copies: FILTERS.map(() => 0), params, learningRate: params.learningRate, seed: 0, snapshots });
  } finally {
    await engine.dispose();
  }
  return taken;
}

function compare(a: Map<number, Float32Array>, b: Map<number, Float32Array>, label: string): void {
  console.log(`| steps | largest ${label} | mean |\n|---|---|---|`);
  for (const step of STEPS) {
    const [x, y] = [a.get(step)!, b.get(step)!];
    let [largest, sum] = [0, 0];
    for (let i = 0; i < x.length; i++) {
      const d = Math.abs(x[i] - y[i]);
      largest = Math.max(largest, d);
      sum += d;
    }
    console.log(`| ${step} | ${largest.toExponential(2)} | ${(sum / x.length).toExponential(2)} |`);
  }
}

const [flag, dir] = process.argv.slice(2);
const here = await snapshots(defaultLucidParams.initStd);
if (flag === '--dump') {
  mkdirSync(dir, { recursive: true });
  for (const [step, images] of here) writeFileSync(join(dir, `${step}.f32`), images);
} else if (flag === '--against') {
  const there = new Map(STEPS.map((step) => [step, new Float32Array(new Uint8Array(readFileSync(join(dir, `${step}.f32`))).buffer)]));
  compare(here, there, `|this - ${dir}|`);
} else {
  compare(here, await snapshots(defaultLucidParams.initStd * (1 + 1e-6)), '|start - start x (1 + 1e-6)|');
}
