/**
 * Step overhead: the share of an optimisation step spent outside the engine (Adam, the ImageNet-space
 * conversions, the objective bookkeeping: JavaScript on the host, plus the transforms between scales
 * spread over a scale's steps) against inside it (Engine.objectiveGradient: the ONNX Runtime run and
 * its input and output tensors). On a GPU the engine's part shrinks and the host's does not, so this
 * says whether the host would dominate there and tensors should stay on the device (IO binding, or
 * the update emitted into the graph). The numbers measured: README, GPU; why: docs/design.md section 14.
 *
 * Measured with the real loop (runAscent, one scale of `steps` steps after an untimed warm-up run
 * that builds the session) over an engine wrapper that times objectiveGradient; the transforms
 * (clip, bicubic x1.2, 5x5 box blur, clip) are timed on their own and counted once per
 * `stepsPerScale` (20, the article's) steps.
 */
import type { DeviceAscent, DeviceAscentInit, Engine } from '../pipeline/engine/engine.js';
import type { CnnModel } from '../pipeline/model/graph.js';
import { findLayer } from '../pipeline/model/layers.js';
import { runAscent } from '../pipeline/visualize/loop.js';
import { channelObjective } from '../pipeline/visualize/objective.js';
import { IMAGENET_SPACE } from '../pipeline/visualize/parameterization.js';
import { methodParamsSchema } from '../pipeline/schema/article-params.js';
import { boxBlur, clip01, resizeBicubic } from '../pipeline/visualize/transforms.js';
import { timeSteps } from './runner.js';

export interface OverheadRow {
  model: string;
  layer: string;
  size: number;
  batch: number;
  /** Seconds per step with the transforms spread over the article's 20 steps per scale. */
  seconds_per_step: number;
  /** Inside Engine.objectiveGradient, per step. */
  engine_seconds_per_step: number;
  /** Outside it (Adam, conversions, bookkeeping, transforms / 20), per step: what a GPU does not shorten. */
  host_seconds_per_step: number;
  /** Of which the transforms between scales (clip, bicubic x1.2, blur), per step. */
  transform_seconds_per_step: number;
  host_share: number;
  /** The host share if the engine ran 10 or 100 times faster (a GPU) and the host stayed as it is. */
  host_share_if_engine_10x: number;
  host_share_if_engine_100x: number;
  device: string;
}

/** An engine whose objectiveGradient calls (and, on a device ascent, its steps and read-back) add their wall time to `spent.seconds`. */
export function timed(engine: Engine, spent: { seconds: number }): Engine {
  const time = async <T>(call: () => Promise<T>): Promise<T> => {
    const start = performance.now();
    try {
      return await call();
    } finally {
      spent.seconds += (performance.now() - start) / 1000;
    }
  };
  const { startAscent } = engine;
  return Object.assign(Object.create(engine) as Engine, {
    objectiveGradient: (...args: Parameters<Engine['objectiveGradient']>) => time(() => engine.objectiveGradient(...args)),
    // With the ascent on the device, its steps and its read-back are the engine's time.
    ...(startAscent
      ? {
          startAscent: async (init: DeviceAscentInit): Promise<DeviceAscent> => {
            const ascent = await time(() => startAscent.call(engine, init));
            return { step: (stepSize, correction) => time(() => ascent.step(stepSize, correction)), finish: () => time(() => ascent.finish()), dispose: () => ascent.dispose() };
          },
        }
      : {}),
  });
}

/** Seconds of the between-scales transforms of a batch from `size` to floor(1.2 x size), median of 3. */
async function transformSeconds(size: number, batch: number): Promise<number> {
  const to = Math.floor(1.2 * size);
  const data = new Float32Array(batch * 3 * size * size).map((_, i) => (i % 255) / 255);
  const { secondsPerStep } = await timeSteps(
    async () => {
      const resized = resizeBicubic({ data: clip01(data), planes: 3 * batch, height: size, width: size }, to, to);
      clip01(boxBlur({ data: resized.data, planes: 3 * batch, height: to, width: to }, 5).data);
    },
    { warmup: 1, minSteps: 3, maxSteps: 3 },
  );
  return secondsPerStep;
}

export async function measureOverhead(engine: Engine, model: CnnModel, layer: string, size: number, batch: number, steps = 5, stepsPerScale = 20): Promise<OverheadRow> {
  const { node, channels } = findLayer(model, layer);
  const params = methodParamsSchema.parse({ startSize: size, scales: 1, stepsPerScale: steps });
  const filters = Array.from({ length: batch }, (_, i) => (i * 7) % channels);
  const input = { objective: channelObjective(node.name, channels, filters), filters, params, learningRate: params.learningRate, seed: 0, space: IMAGENET_SPACE };
  await runAscent(engine, input); // warm-up: builds the session
  const spent = { seconds: 0 };
  const start = performance.now();
  await runAscent(timed(engine, spent), input);
  const loop = (performance.now() - start) / 1000;
  const transform = (await transformSeconds(size, batch)) / stepsPerScale;
  const engineStep = spent.seconds / steps;
  const host = (loop - spent.seconds) / steps + transform;
  const shareIf = (speedup: number) => host / (host + engineStep / speedup);
  return {
    model: model.name,
    layer,
    size,
    batch,
    seconds_per_step: engineStep + host,
    engine_seconds_per_step: engineStep,
    host_seconds_per_step: host,
    transform_seconds_per_step: transform,
    host_share: shareIf(1),
    host_share_if_engine_10x: shareIf(10),
    host_share_if_engine_100x: shareIf(100),
    device: engine.info.device,
  };
}
