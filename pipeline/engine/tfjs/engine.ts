/**
 * The TensorFlow.js engine: the second engine behind the Engine interface and the independent
 * gradient oracle for the ONNX Runtime engine's hand-built backward graphs. Gradients come from
 * tfjs autodiff (tf.valueAndGrad); only the conv input gradient is hand-written (see conv.ts).
 */
import type { Tensor, Tensor4D } from '@tensorflow/tfjs';
import { describeValue, userError } from '../../errors.js';
import type { CnnModel } from '../../model/graph.js';
import { findNode, layerChannels } from '../../model/layers.js';
import { SizedGraphs } from '../../model/sized.js';
import { featureMapsOf } from '../layer-output.js';
import { checkEarlier, checkLength, checkRowImages } from '../checks.js';
import { logical } from './ops.js';
import type { Engine, EngineOptions, FeatureMaps, ImageBatch, ObjectiveGradient } from '../engine.js';
import { createGraphRunner } from './execute.js';
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

/**
 * A tfjs Engine for the model. EngineOptions.threads has no effect: tfjs wasm in Node runs on
 * one thread, and tfjs-node reads its thread counts from TensorFlow's own environment variables.
 * EngineOptions.device: see runtime.ts; onPlacement is not called (no ONNX programs here).
 */
export async function createTfjsEngine(model: CnnModel, options: EngineOptions, tfjsOptions: TfjsEngineOptions = {}): Promise<Engine> {
  const runtime = await loadTfRuntime(tfjsOptions.backend ?? 'auto', options.device ?? 'auto');
  const tf = runtime.tf;
  const runner = createGraphRunner(tf, model);
  let disposed = false;
  const alive = () => {
    if (disposed) throw new Error('tfjs engine used after dispose()');
  };
  const input = (batch: ImageBatch) => tf.tensor4d(batch.data, [batch.n, 3, batch.height, batch.width]);

  const sizedGraphs = new SizedGraphs(model);
  /** The graph at the batch's size and the plan for these layers (a layer that cannot run there is refused by name). */
  const prepare = (batch: ImageBatch, layers: readonly string[]) => {
    const sized = sizedGraphs.at([batch.height, batch.width]);
    const names = layers.map((layer) => findNode(sized.graph, layer).name);
    return { sized, names, plan: runner.plan(sized, [...new Set(names)]) };
  };

  const engine: Engine = {
    info: { name: 'tfjs', device: runtime.device, deviceKind: runtime.deviceKind, ...(runtime.selection ? { selection: runtime.selection } : {}) },

    async forward(batch: ImageBatch, layers: readonly string[]): Promise<Map<string, FeatureMaps>> {
      alive();
      checkBatch(batch);
      const { sized, names, plan } = prepare(batch, layers);
      // NCHW (or N x C) for the interface.
      const outputs = tf.tidy(() => {
        const values = runner.run(input(batch), sized, plan, true);
        return names.map((name) => {
          const value = values.get(name)!;
          return value.nhwc ? logical(tf, value) : value.t.clone();
        });
      });
      try {
        const result = new Map<string, FeatureMaps>();
        for (let i = 0; i < layers.length; i++) result.set(layers[i], featureMapsOf((await outputs[i].data()) as Float32Array, outputs[i].shape));
        return result;
      } finally {
        tf.dispose(outputs);
      }
    },

    async objectiveGradient(batch: ImageBatch, layer: string, channelWeights: Float32Array): Promise<ObjectiveGradient> {
      alive();
      checkBatch(batch);
      const { sized, names, plan } = prepare(batch, [layer]);
      const [name] = names;
      const channels = layerChannels(sized, name, layer);
      if (channelWeights.length !== batch.n * channels) {
        throw userError({
          where: `tfjs engine, channel weights for layer ${JSON.stringify(layer)}`,
          expected: `n x channels = ${batch.n} x ${channels} = ${batch.n * channels} values`,
          received: `${channelWeights.length} values`,
        });
      }
      const [objective, gradient] = tf.tidy(() => {
        const f = (x: Tensor) => {
          const out = logical(tf, runner.run(x as Tensor4D, sized, plan, false).get(name)!);
          const weights = tf.tensor2d(channelWeights, [batch.n, channels]);
          const spatialAxes = Array.from({ length: out.rank - 2 }, (_, i) => i + 2);
          const perChannel = spatialAxes.length ? tf.mean(out, spatialAxes) : out;
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

    async backward(batch: ImageBatch, layer: string, layerGradient: Float32Array): Promise<{ activation: FeatureMaps; gradient: Float32Array }> {
      alive();
      checkBatch(batch);
      const { sized, names, plan } = prepare(batch, [layer]);
      const [name] = names;
      const dims = [batch.n, ...sized.shapes.get(name)!.dims];
      checkLength(`gradient of layer ${JSON.stringify(layer)}`, dims, layerGradient);
      const [activation, gradient] = tf.tidy(() => {
        let output: Tensor | undefined;
        // sum(layer * dLayer) has d / d image = the vector-Jacobian product asked for.
        const f = (x: Tensor) => {
          const out = logical(tf, runner.run(x as Tensor4D, sized, plan, false).get(name)!);
          // Kept: tensors made inside the gradient's own scope are released when it returns.
          output = tf.keep(out.clone());
          return tf.sum(tf.mul(out, tf.tensor(layerGradient, dims)));
        };
        const { grad } = tf.valueAndGrad(f)(input(batch));
        return [output!, grad];
      });
      try {
        return { activation: featureMapsOf((await activation.data()) as Float32Array, activation.shape), gradient: (await gradient.data()) as Float32Array };
      } finally {
        tf.dispose([activation, gradient]);
      }
    },

    async attribution(batch: ImageBatch, layer: string, channelWeights: Float32Array, from: string): Promise<{ objective: Float32Array; attribution: Float32Array }> {
      alive();
      checkBatch(batch);
      // Both are targets, so `from` is not fused away inside a conv step.
      const { sized, names, plan } = prepare(batch, [layer, from]);
      const [name, source] = names;
      checkEarlier(sized, name, source);
      const channels = layerChannels(sized, name, layer);
      checkLength(`channel weights for layer ${JSON.stringify(layer)}`, [batch.n, channels], channelWeights);
      const [objective, attribution] = tf.tidy(() => {
        const x = input(batch);
        const computed = runner.run(x, sized, plan, false).get(source)!;
        // Differentiate with respect to `from`'s value: the rest of the network is computed as is.
        const f = (value: Tensor) => {
          const out = logical(tf, runner.run(x, sized, plan, false, new Map([[source, { t: value, nhwc: computed.nhwc }]])).get(name)!);
          const spatialAxes = Array.from({ length: out.rank - 2 }, (_, i) => i + 2);
          const perChannel = spatialAxes.length ? tf.mean(out, spatialAxes) : out;
          return tf.sum(tf.mul(perChannel, tf.tensor2d(channelWeights, [batch.n, channels])), 1);
        };
        const { value, grad } = tf.valueAndGrad(f)(computed.t, tf.ones([batch.n]));
        const product = logical(tf, { t: tf.mul(computed.t, grad), nhwc: computed.nhwc });
        const spatialAxes = Array.from({ length: product.rank - 2 }, (_, i) => i + 2);
        return [value, spatialAxes.length ? tf.sum(product, spatialAxes) : product];
      });
      try {
        return { objective: (await objective.data()) as Float32Array, attribution: (await attribution.data()) as Float32Array };
      } finally {
        tf.dispose([objective, attribution]);
      }
    },

    async rowAttribution(batch: ImageBatch, layer: string, channelWeights: Float32Array, from: string, rowImages: Int32Array): Promise<{ objective: Float32Array; attribution: Float32Array }> {
      alive();
      checkBatch(batch);
      checkRowImages(rowImages, batch.n);
      // The oracle computes the definition: a batch with each row's own copy of its image.
      const plane = 3 * batch.height * batch.width;
      const data = new Float32Array(rowImages.length * plane);
      rowImages.forEach((image, row) => data.set(batch.data.subarray(image * plane, (image + 1) * plane), row * plane));
      return engine.attribution({ data, n: rowImages.length, height: batch.height, width: batch.width }, layer, channelWeights, from);
    },

    async dispose(): Promise<void> {
      if (disposed) return;
      disposed = true;
      runner.dispose();
    },
  };
  return engine;
}
