/**
 * `npx tsx bench/spin-stop.ts [size] [layer] [batch]`: what onnxruntime's `force_spinning_stop` (set in
 * pipeline/engine/ort/runtime.ts, so that the lucid kernels get the cores between runs) costs a program
 * run back to back: darknet-tiny's gradient program, 10 runs a round, 6 rounds alternating between a
 * session whose threads keep spinning after a run and one whose threads stop; ms an image, fastest round.
 */
import { loadModel } from '../pipeline/model/load.js';
import { graphAtSize } from '../pipeline/model/sized.js';
import { buildGradientProgram } from '../pipeline/engine/ort/programs.js';
import { loadRuntime } from '../pipeline/engine/ort/runtime.js';

const [size, layer, n] = [Number(process.argv[2] ?? 224), process.argv[3] ?? 'conv2d_16', Number(process.argv[4] ?? 1)];
const model = await loadModel('darknet-tiny');
const sized = graphAtSize(model, [size, size]);
const program = buildGradientProgram(model, sized, layer);
// The engine's own session options, but for the spinning setting.
const runtime = await loadRuntime({ threads: 2, device: 'cpu' });
const ort = runtime.ort;
const make = (stop: '0' | '1') => runtime.createSession(program.bytes, { extra: { session: { force_spinning_stop: stop } } });
const channels = sized.shapes.get(layer)!.dims[0];
const weights = new Float32Array(n * channels);
for (let i = 0; i < n; i++) weights[i * channels + (i % channels)] = 1;
const feeds = {
  [program.inputs.image]: new ort.Tensor('float32', new Float32Array(n * 3 * size * size).map(() => Math.random()), [n, 3, size, size]),
  [program.inputs.weights!]: new ort.Tensor('float32', weights, [n, channels]),
};
const sessions = { spinning: await make('0'), stopping: await make('1') };
const best = { spinning: Infinity, stopping: Infinity };
for (let round = 0; round < 6; round++) {
  for (const [name, session] of Object.entries(sessions) as [keyof typeof sessions, (typeof sessions)['spinning']][]) {
    await session.run(feeds);
    const start = performance.now();
    for (let i = 0; i < 10; i++) await session.run(feeds);
    best[name] = Math.min(best[name], (performance.now() - start) / 10 / n);
  }
}
console.log(`darknet-tiny ${layer} gradient at ${size} px x${n}: threads spinning on ${best.spinning.toFixed(2)} ms an image, stopping ${best.stopping.toFixed(2)} ms (${(best.stopping / best.spinning).toFixed(2)}x)`);
