/**
 * The lucid step's pixel-wise parts, JavaScript against the WebAssembly kernels (issue 25), on one thread
 * at the loop's sizes (224 px picture seen at 236, Lucid's default transforms): CPU milliseconds per image
 * and step, the fastest of several rounds (on a shared machine other jobs only ever add time).
 *
 *   npx tsx bench/lucid-pixel-kernels.ts [batch = 16] [steps per round = 8] [rounds = 5]
 *
 * Sampling counts the map's setup (per step) with the forward, as the JavaScript's sampler() builds its
 * map when it is made. Both sides read and write their own arrays (the kernels' in their memory); the
 * kernels' colour adjoint runs in place (dRgb -> dRgb), as the loop can use it.
 */
import { colourMatrix, planesToRgb, rgbToPlanesGradient } from '../pipeline/visualize/lucid/colour.js';
import { colourMatrixArguments, createKernels, samplerLengths, setUpSampler } from '../pipeline/visualize/lucid/kernels.js';
import { drawTransforms, robustnessTransforms, sampler, type Sampler } from '../pipeline/visualize/lucid/transforms.js';
import { defaultLucidParams as params } from '../pipeline/schema/lucid-params.js';
import { createRandom } from '../pipeline/util/random.js';
import { loadavg } from 'node:os';

function measure(n: number, steps: number, rounds: number): void {
  const random = createRandom(1);
  const picture = { height: params.size, width: params.size };
  const list = robustnessTransforms(params.transforms);
  const seen = drawTransforms(list, picture, random).at(-1) ?? picture;
  const fill = params.transforms.padValue;
  const plane = picture.height * picture.width;
  const [inLength, outLength] = [n * 3 * plane, n * 3 * seen.height * seen.width];
  const noise = (length: number, low: number, high: number) => new Float32Array(length).map(() => low + (high - low) * random.next());

  const js = { planes: noise(inLength, -3, 3), rgb: new Float32Array(inLength), dRgb: noise(inLength, -1, 1), dPlanes: new Float32Array(inLength), seen: new Float32Array(outLength), dSeen: noise(outLength, -1, 1) };
  const kernels = createKernels();
  const e = kernels.exports;
  const lengths = samplerLengths(picture, seen);
  const [corner, weights, scratch, planes, rgb, dRgb, seenOut, dSeen] = kernels.arena([lengths.corner, lengths.weights, lengths.scratch, inLength, inLength, inLength, outLength, outLength]);
  planes.view.set(js.planes);
  dRgb.view.set(js.dRgb);
  dSeen.view.set(js.dSeen);
  const matrix = colourMatrix(params.decorrelate);
  const m = colourMatrixArguments(matrix);

  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1000;
  };
  const best = new Map<string, number>();
  for (let round = -1; round < rounds; round++) {
    const spent = new Map<string, number>();
    const time = (part: string, run: () => void) => {
      const start = cpu();
      run();
      spent.set(part, (spent.get(part) ?? 0) + cpu() - start);
    };
    for (let step = 0; step < steps; step++) {
      const draws = drawTransforms(list, picture, random);
      let view: Sampler | undefined;
      time('JS colour + sigmoid', () => planesToRgb(js.planes, n, plane, matrix, js.rgb));
      time('kernel colour + sigmoid', () => e.planesToRgb(planes.offset, rgb.offset, n, plane, ...m));
      time('JS sampling', () => {
        view = sampler(picture, draws, fill);
        view.forward(js.rgb, 3 * n, js.seen);
      });
      time('kernel sampling', () => {
        setUpSampler(e, picture, draws, corner, weights);
        e.samplerForward(rgb.offset, seenOut.offset, n, picture.height, picture.width, seen.height, seen.width, fill, corner.offset, weights.offset, scratch.offset);
      });
      time('JS sampling adjoint', () => view?.adjoint(js.dSeen, 3 * n, js.dRgb));
      time('kernel sampling adjoint', () => e.samplerAdjoint(dSeen.offset, dRgb.offset, n, picture.height, picture.width, seen.height, seen.width, corner.offset, weights.offset, scratch.offset));
      time('JS colour adjoint', () => rgbToPlanesGradient(js.dRgb, js.rgb, n, plane, matrix, js.dPlanes));
      time('kernel colour adjoint', () => e.rgbToPlanesGradient(dRgb.offset, rgb.offset, dRgb.offset, n, plane, ...m));
    }
    if (round < 0) continue; // warms up the JIT
    for (const [part, ms] of spent) best.set(part, Math.min(best.get(part) ?? Infinity, ms / steps / n));
  }
  console.log(`batch ${n}, ${picture.height} px seen at ${seen.height}, CPU ms per image and step (one thread, fastest of ${rounds} rounds of ${steps} steps), load ${loadavg().map((l) => l.toFixed(2)).join(' ')}:`);
  for (const part of ['colour + sigmoid', 'sampling', 'sampling adjoint', 'colour adjoint']) {
    const [slow, fast] = [best.get(`JS ${part}`) ?? NaN, best.get(`kernel ${part}`) ?? NaN];
    console.log(`  ${part.padEnd(18)} JS ${slow.toFixed(3).padStart(6)}  kernel ${fast.toFixed(3).padStart(6)}  ${(slow / fast).toFixed(1).padStart(5)}x`);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  measure(Number(process.argv[2] ?? 16), Number(process.argv[3] ?? 8), Number(process.argv[4] ?? 5));
}
