/**
 * The TensorFlow.js engine: the second engine behind the Engine interface and the independent
 * gradient oracle for the ONNX Runtime engine's hand-built backward graphs. Gradients come from
 * tfjs autodiff (tf.valueAndGrad); only the conv input gradient is hand-written (see conv.ts).
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import { describeValue, userError } from '../../errors.js';
import type { CnnModel } from '../../model/graph.js';
import { findNode, inferShapes, type Shape } from '../../model/layers.js';
import type { Engine, EngineOptions, FeatureMaps, ImageBatch, ObjectiveGradient } from '../engine.js';
import { createGraphRunner } from './execute.js';
import type { Plan } from './plan.js';
import { loadTfRuntime, type TfjsBackendChoice } from './runtime.js';

export interface TfjsEngineOptions {
  /**
   * 'auto' uses @tensorflow/tfjs-node(-gpu) when installed, else wasm; tests pin 'wasm'.
   * @default 'auto'
   */
  backend?: TfjsBackendChoice;
}

function checkBatch(batch: ImageBatch): void {
  const dims = [batch.n, batch.height, batch.width];
  if (!dims.every((d) => Number.isInteger(d) && d > 0)) {
    throw userError({ where: 'tfjs engine, image batch', expected: 'positive integer n, height and width', received: dims.map(describeValue).join(', ') });
  }
  const expected = batch.n * 3 * batch.height * batch.width;
  if (batch.data.length !== expected) {
    throw userError({
      where: 'tfjs engine, image batch',
      expected: `${expected} floats (n ${batch.n} x 3 x ${batch.height} x ${batch.width}, RGB NCHW)`,
      received: `${batch.data.length} floats`,
    });
  }
}

/** Layer output shape as FeatureMaps dims: NHWC rank 4, or [N, features] as features x 1 x 1. */
function dims(t: Tensor): { n: number; channels: number; height: number; width: number } {
  const [n, a, b, c] = t.shape as number[];
  if (t.rank === 4) return { n, height: a, width: b, channels: c };
  return { n, channels: t.size / n, height: 1, width: 1 };
}

/** Refuses an image too small for the layers (a pool or conv would produce an empty map). */
function checkSizes(model: CnnModel, batch: ImageBatch, plan: Plan, shapes: Map<string, Shape>): void {
  for (const step of plan.steps) {
    const shape = shapes.get(step.output)!;
    if (shape.height < 1 || shape.width < 1) {
      throw userError({
        where: `tfjs engine, image size ${batch.height}x${batch.width}`,
        expected: `an image large enough for layer ${JSON.stringify(step.output)} of ${model.name}`,
        received: `a ${shape.height}x${shape.width} output there`,
        fix: `Use images of at least the model's input size (${model.preprocessing.inputSize.join('x')})`,
      });
    }
  }
}

/**
 * A tfjs Engine for the model. EngineOptions.threads has no effect: tfjs wasm in Node runs on
 * one thread, and tfjs-node reads its thread counts from TensorFlow's own environment variables.
 */
export async function createTfjsEngine(model: CnnModel, _options: EngineOptions, tfjsOptions: TfjsEngineOptions = {}): Promise<Engine> {
  const runtime = await loadTfRuntime(tfjsOptions.backend ?? 'auto');
  const tf = runtime.tf;
  const runner = createGraphRunner(tf, model);
  let disposed = false;
  const alive = () => {
    if (disposed) throw new Error('tfjs engine used after dispose()');
  };
  const input = (batch: ImageBatch) => tf.tensor4d(batch.data, [batch.n, 3, batch.height, batch.width]);

  return {
    info: { name: 'tfjs', device: runtime.device },

    async forward(batch: ImageBatch, layers: readonly string[]): Promise<Map<string, FeatureMaps>> {
      alive();
      checkBatch(batch);
      const names = layers.map((layer) => findNode(model.graph, layer).name);
      const plan = runner.plan([...new Set(names)]);
      checkSizes(model, batch, plan, inferShapes(model.graph, [batch.height, batch.width]));
      const shapes: Array<ReturnType<typeof dims>> = [];
      const outputs = tf.tidy(() => {
        const values = runner.run(input(batch), plan, true);
        // NCHW for the interface; rank-2 outputs are already [N, features].
        return names.map((name) => {
          const t = values.get(name)!;
          shapes.push(dims(t));
          return t.rank === 4 ? tf.transpose(t, [0, 3, 1, 2]) : t.clone();
        });
      });
      try {
        const result = new Map<string, FeatureMaps>();
        for (let i = 0; i < layers.length; i++) {
          result.set(layers[i], { data: (await outputs[i].data()) as Float32Array, ...shapes[i] });
        }
        return result;
      } finally {
        tf.dispose(outputs);
      }
    },

    async objectiveGradient(batch: ImageBatch, layer: string, channelWeights: Float32Array): Promise<ObjectiveGradient> {
      alive();
      checkBatch(batch);
      const name = findNode(model.graph, layer).name;
      const plan = runner.plan([name]);
      const layerShapes = inferShapes(model.graph, [batch.height, batch.width]);
      checkSizes(model, batch, plan, layerShapes);
      const { channels } = layerShapes.get(name)!;
      if (channelWeights.length !== batch.n * channels) {
        throw userError({
          where: `tfjs engine, channel weights for layer ${JSON.stringify(layer)}`,
          expected: `n x channels = ${batch.n} x ${channels} = ${batch.n * channels} values`,
          received: `${channelWeights.length} values`,
        });
      }
      const [objective, gradient] = tf.tidy(() => {
        const f = (x: Tensor) => {
          const out = runner.run(x as Tensor4D, plan, false).get(name)!;
          const weights = tf.tensor2d(channelWeights, [batch.n, channels]);
          const perChannel = out.rank === 4 ? tf.mean(out, [1, 2]) : out.reshape([batch.n, channels]);
          return tf.sum(tf.mul(perChannel, weights), 1);
        };
        // objective[n] depends only on image n (eval mode), so one backward pass with dy = 1
        // gives every image's own gradient.
        const { value, grad } = tf.valueAndGrad(f)(input(batch), tf.ones([batch.n]));
        return [value, grad];
      });
      try {
        return { objective: (await objective.data()) as Float32Array, gradient: (await gradient.data()) as Float32Array };
      } finally {
        tf.dispose([objective, gradient]);
      }
    },

    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      runner.dispose();
    },
  };
}
