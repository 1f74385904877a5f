/**
 * `npx tsx bench/lucid-step.ts [batch]`: where a lucid step's time goes on darknet-tiny conv2d_16 at Lucid's
 * defaults (224 px picture, 236 px seen by the engine): the JavaScript parts (inverse FFT, colour and
 * sigmoid, the transforms' sampling, and their adjoints) against the engine's forward + backward pass.
 * This is the measurement behind keeping the transforms in JavaScript (docs/design.md section 2.6).
 */
import { createEngine } from '../pipeline/engine/create.js';
import { loadModel } from '../pipeline/model/load.js';
import { createRandom } from '../pipeline/util/random.js';
import { channelObjective } from '../pipeline/visualize/objective.js';
import { colourMatrix, planesToRgb, rgbToPlanesGradient } from '../pipeline/visualize/lucid/colour.js';
import { fourierBasis, planesToSpectrumGradient, spectrumToPlanes } from '../pipeline/visualize/lucid/fourier.js';
import { startSpectra } from '../pipeline/visualize/lucid/loop.js';
import { defaultLucidParams } from '../pipeline/schema/lucid-params.js';
import { drawTransforms, robustnessTransforms, sampler } from '../pipeline/visualize/lucid/transforms.js';

const n = Number(process.argv[2] ?? 16);
const steps = 10;
const params = defaultLucidParams;
const model = await loadModel('darknet-tiny');
const engine = await createEngine(model, { engine: 'ort' });
const basis = fourierBasis(params.size, params.decayPower);
const matrix = colourMatrix(true);
const plane = params.size * params.size;
const spectrum = startSpectra(basis.perImage, new Array(n).fill(0), params, 0);
const objective = channelObjective('conv2d_16', 1000, Array.from({ length: n }, (_, i) => i));
const random = createRandom(1);
const list = robustnessTransforms(params.transforms);
const times = { js: 0, engine: 0 };
for (let step = -1; step < steps; step++) {
  const t0 = performance.now();
  const rgb = planesToRgb(spectrumToPlanes(basis, spectrum, n), n, plane, matrix);
  const picture = { height: params.size, width: params.size };
  const view = sampler(picture, drawTransforms(list, picture, random), 0.5);
  const seen = view.forward(rgb, 3 * n);
  const t1 = performance.now();
  const result = await engine.objectiveGradient({ data: seen, n, ...view.output }, 'conv2d_16', objective.weights);
  const t2 = performance.now();
  planesToSpectrumGradient(basis, rgbToPlanesGradient(view.adjoint(result.gradient, 3 * n), rgb, n, plane, matrix), n);
  const t3 = performance.now();
  // Step -1 warms the engine's session up and is not counted.
  if (step >= 0) {
    times.js += t1 - t0 + (t3 - t2);
    times.engine += t2 - t1;
  }
}
await engine.dispose();
const per = (ms: number) => (ms / steps / 1000).toFixed(3);
console.log(`batch ${n}, ${engine.info.device}: per step JavaScript ${per(times.js)} s, engine ${per(times.engine)} s (${((100 * times.js) / (times.js + times.engine)).toFixed(0)} % JavaScript)`);

// The transforms as one composed sampling (what the loop does) against one sampling per transform.
const rgb = planesToRgb(spectrumToPlanes(basis, spectrum, n), n, plane, matrix);
const picture = { height: params.size, width: params.size };
let [composed, chained] = [0, 0];
for (let step = 0; step < steps; step++) {
  const draws = drawTransforms(list, picture, random);
  const t0 = performance.now();
  sampler(picture, draws, 0.5).forward(rgb, 3 * n);
  const t1 = performance.now();
  let data = rgb;
  let size = picture;
  for (const draw of draws) {
    const one = sampler(size, [draw], 0.5);
    data = one.forward(data, 3 * n);
    size = one.output;
  }
  chained += performance.now() - t1;
  composed += t1 - t0;
}
console.log(`transforms forward, batch ${n}: one composed sampling ${per(composed)} s, one sampling per transform ${per(chained)} s`);
