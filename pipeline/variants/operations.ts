/**
 * The three ways `filter-atlas variant` changes a Keras (TensorFlow.js layers) model's weights, each a
 * pure function of (topology, weights, seed) returning new weights. Weights are in the manifest's own
 * Keras layout: Conv2D kernels [kh, kw, in, out], DepthwiseConv2D [kh, kw, C, multiplier], Dense [in, out].
 */
import { userError } from '../errors.js';
import type { Tensor } from '../model/graph.js';
import type { KerasLayer, KerasTopology } from '../model/tfjs-topology.js';
import type { Random } from '../util/random.js';
import type { VariantOperation } from '../model/metadata.js';

/** Weight name (as in the manifest) -> tensor. Insertion order is the manifest order, and is kept. */
export type Weights = Map<string, Tensor>;

/** Layers the outputs of a permuted conv may pass through unchanged on the way to the next conv. */
const CHANNELWISE = new Set(['LeakyReLU', 'ReLU', 'Activation', 'MaxPooling2D', 'AveragePooling2D', 'ZeroPadding2D', 'Dropout']);
const BN_WEIGHTS = ['gamma', 'beta', 'moving_mean', 'moving_variance'];
const KERNEL_OF: Record<string, string> = { Conv2D: 'kernel', DepthwiseConv2D: 'depthwise_kernel', Dense: 'kernel' };

/** The manifest key of `<layer>/<suffix>` (also under a scope prefix, as the model loader accepts). */
export function weightKey(weights: Weights, layer: string, suffix: string): string | undefined {
  const exact = `${layer}/${suffix}`;
  return weights.has(exact) ? exact : [...weights.keys()].find((k) => k.endsWith(`/${exact}`));
}

function layerByName(topology: KerasTopology, name: string, flag: string, classes: string[]): KerasLayer {
  const layer = topology.layers.find((l) => l.name === name);
  if (layer && classes.includes(layer.className)) return layer;
  const candidates = topology.layers.filter((l) => classes.includes(l.className)).map((l) => l.name);
  throw userError({
    where: flag,
    expected: `a ${classes.join(' or ')} layer of the model (${candidates.slice(0, 8).join(', ')}${candidates.length > 8 ? ', ...' : ''})`,
    received: layer ? `${name} (${layer.className})` : `${JSON.stringify(name)}, not a layer of the model`,
    fix: 'Run `filter-atlas layers <model>` to see the layer names.',
  });
}

function kernelOf(weights: Weights, layer: KerasLayer, flag: string): { key: string; tensor: Tensor } {
  const key = weightKey(weights, layer.name, KERNEL_OF[layer.className]);
  const tensor = key === undefined ? undefined : weights.get(key);
  if (!key || !tensor) throw userError({ where: flag, expected: `weights for layer ${layer.name}`, received: 'none in the weights manifest' });
  return { key, tensor };
}

/** A random permutation of n that is never the identity (for n > 1): Fisher-Yates, then a rotation if needed. */
export function randomPermutation(n: number, random: Random): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  if (n > 1 && order.every((v, i) => v === i)) order.push(order.shift()!);
  return order;
}

/** Reorders one axis of a row-major tensor: out[..., j, ...] = in[..., order[j], ...]. */
export function permuteAxis(tensor: Tensor, axis: number, order: readonly number[]): Tensor {
  const { shape, data } = tensor;
  if (shape[axis] !== order.length) throw new RangeError(`permuteAxis: axis ${axis} has ${shape[axis]} entries, order has ${order.length}`);
  const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
  const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
  const n = shape[axis];
  const out = new Float32Array(data.length);
  for (let o = 0; o < outer; o++) {
    for (let j = 0; j < n; j++) {
      const to = (o * n + j) * inner;
      const from = (o * n + order[j]) * inner;
      out.set(data.subarray(from, from + inner), to);
    }
  }
  return { shape: [...shape], data: out };
}

/**
 * Reorders the output channels of a Conv2D so that the network computes the same function:
 * the kernel's and bias's output axis, every BatchNormalization on the way to the next Conv2D, and
 * that conv's input axis. Channel-wise layers (activations, pooling, padding, dropout) in between
 * need nothing. Anything that mixes or exposes channels (Dense, Add, a second consumer, the model
 * output) makes the permutation visible, so it is refused.
 */
export function permuteConv(topology: KerasTopology, weights: Weights, layerName: string, random: Random): { weights: Weights; operation: VariantOperation } {
  const flag = '--permute';
  const layer = layerByName(topology, layerName, flag, ['Conv2D']);
  const kernel = kernelOf(weights, layer, flag);
  const channels = kernel.tensor.shape[3];
  const order = randomPermutation(channels, random);
  const out: Weights = new Map(weights);
  out.set(kernel.key, permuteAxis(kernel.tensor, 3, order));
  const bias = weightKey(weights, layer.name, 'bias');
  if (bias) out.set(bias, permuteAxis(weights.get(bias)!, 0, order));

  const consumers = (name: string) => topology.layers.filter((l) => l.inbound.includes(name));
  const batchNorms: string[] = [];
  let current = layer;
  for (;;) {
    const next = consumers(current.name);
    const refuse = (received: string) =>
      userError({
        where: `${flag} ${layerName}`,
        expected: "a conv whose output reaches exactly one next Conv2D through BatchNormalization, activation, pooling, padding or dropout layers (so the model's function is unchanged)",
        received,
        fix: 'Pick a conv in a plain chain, e.g. conv2d_2 of darknet-tiny.',
      });
    if (current.name === topology.output) throw refuse(`${current.name} is the model output`);
    if (next.length !== 1) throw refuse(`${current.name} feeds ${next.length} layers`);
    const consumer = next[0];
    if (consumer.className === 'Conv2D') {
      const nextKernel = kernelOf(weights, consumer, flag);
      out.set(nextKernel.key, permuteAxis(nextKernel.tensor, 2, order));
      return { weights: out, operation: { kind: 'permute', layer: layer.name, batchNorms, next: consumer.name, order } };
    }
    if (consumer.className === 'BatchNormalization') {
      for (const suffix of BN_WEIGHTS) {
        const key = weightKey(weights, consumer.name, suffix);
        if (key) out.set(key, permuteAxis(weights.get(key)!, 0, order));
      }
      batchNorms.push(consumer.name);
    } else if (!CHANNELWISE.has(consumer.className) || consumer.config.activation === 'softmax') {
      throw refuse(`${consumer.name} (${consumer.className})`);
    }
    current = consumer;
  }
}

/** Standard normal samples (Box-Muller) from the seeded generator. */
export function gaussian(random: Random): () => number {
  let spare: number | undefined;
  return () => {
    if (spare !== undefined) {
      const value = spare;
      spare = undefined;
      return value;
    }
    const u = 1 - random.next(); // (0, 1]: log(0) never happens
    const v = random.next();
    const radius = Math.sqrt(-2 * Math.log(u));
    spare = radius * Math.sin(2 * Math.PI * v);
    return radius * Math.cos(2 * Math.PI * v);
  };
}

export const rms = (data: Float32Array) => Math.sqrt(data.reduce((sum, v) => sum + v * v, 0) / Math.max(1, data.length));

/** Adds seeded Gaussian noise of rms `scale` x the kernel's rms to one layer's kernel. */
export function perturbKernel(topology: KerasTopology, weights: Weights, layerName: string, scale: number, random: Random): { weights: Weights; operation: VariantOperation } {
  const flag = '--perturb';
  if (!Number.isFinite(scale) || scale < 0) throw userError({ where: `${flag} ${layerName}:${scale}`, expected: 'a non-negative relative scale, e.g. conv2d_3:0.5', received: String(scale) });
  const layer = layerByName(topology, layerName, flag, Object.keys(KERNEL_OF));
  const { key, tensor } = kernelOf(weights, layer, flag);
  const sigma = scale * rms(tensor.data);
  const noise = gaussian(random);
  const data = new Float32Array(tensor.data.length);
  let noiseSquares = 0;
  for (let i = 0; i < data.length; i++) {
    data[i] = tensor.data[i] + sigma * noise();
    noiseSquares += (data[i] - tensor.data[i]) ** 2;
  }
  const kernelNorm = Math.sqrt(tensor.data.reduce((sum, v) => sum + v * v, 0));
  const out: Weights = new Map(weights);
  out.set(key, { shape: [...tensor.shape], data });
  return { weights: out, operation: { kind: 'perturb', layer: layer.name, scale, relativeNorm: kernelNorm > 0 ? Math.sqrt(noiseSquares) / kernelNorm : 0 } };
}

/**
 * Symmetric int8 quantise-dequantise of one kernel, one scale per output channel:
 * s = max |w| / 127 over the channel, w -> round(w / s) * s. `channels` is the number of output
 * channels, which are the trailing entries of the layout (out for Conv2D / Dense, C x multiplier
 * for DepthwiseConv2D), so channel = flat index % channels.
 */
export function quantizeDequantizeInt8(data: Float32Array, channels: number): { data: Float32Array; maxAbsError: number } {
  const maxAbs = new Float64Array(channels);
  for (let i = 0; i < data.length; i++) maxAbs[i % channels] = Math.max(maxAbs[i % channels], Math.abs(data[i]));
  const out = new Float32Array(data.length);
  let maxAbsError = 0;
  for (let i = 0; i < data.length; i++) {
    const scale = maxAbs[i % channels] / 127;
    out[i] = scale === 0 ? 0 : Math.round(data[i] / scale) * scale;
    maxAbsError = Math.max(maxAbsError, Math.abs(out[i] - data[i]));
  }
  return { data: out, maxAbsError };
}

/** int8 quantise-dequantise of every kernel (Conv2D, DepthwiseConv2D, Dense); biases and BatchNorm stay float. */
export function quantizeKernels(topology: KerasTopology, weights: Weights): { weights: Weights; operation: VariantOperation } {
  const out: Weights = new Map(weights);
  const kernels: string[] = [];
  let maxAbsError = 0;
  for (const layer of topology.layers) {
    if (!(layer.className in KERNEL_OF)) continue;
    const { key, tensor } = kernelOf(weights, layer, '--quantize');
    const channels = layer.className === 'DepthwiseConv2D' ? tensor.shape[2] * tensor.shape[3] : tensor.shape[tensor.shape.length - 1];
    const result = quantizeDequantizeInt8(tensor.data, channels);
    out.set(key, { shape: [...tensor.shape], data: result.data });
    kernels.push(key);
    maxAbsError = Math.max(maxAbsError, result.maxAbsError);
  }
  return { weights: out, operation: { kind: 'quantize', scheme: 'int8-symmetric-per-output-channel', kernels, maxAbsError } };
}
