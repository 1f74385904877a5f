/**
 * Small synthetic CNN graphs for engine tests (shared by the ORT and tfjs engine tests).
 * Together they cover every op of pipeline/model/graph.ts at odd spatial sizes:
 * grouped / depthwise / strided / dilated conv, BatchNorm folded and standalone,
 * ReLU, LeakyReLU, Clip, max pooling (ceil and floor, padded, overlapping), average
 * pooling (both padding rules), global average pooling, pad, add, concat, identity,
 * and the forward-only dense / flatten / softmax head. Weights are seeded, so every
 * run builds the same graphs.
 */
import { INPUT, type CnnModel, type GraphNode, type Op, type Pads, type Pair } from '../../../pipeline/model/graph.js';

/** mulberry32: a tiny seeded generator, enough for test weights. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Uniform values in [lo, hi). */
export function uniform(random: () => number, count: number, lo = -1, hi = 1): Float32Array {
  return Float32Array.from({ length: count }, () => lo + (hi - lo) * random());
}

/** A graph under construction: each helper appends a node and returns its name. */
class GraphMaker {
  readonly nodes: GraphNode[] = [];
  private readonly channels = new Map<string, number>();

  constructor(
    readonly random: () => number,
    inputChannels = 3,
  ) {
    this.channels.set(INPUT, inputChannels);
  }

  channelsOf(name: string): number {
    return this.channels.get(name)!;
  }

  add(name: string, op: Op, inputs: string[], channels: number, aliases?: string[]): string {
    this.nodes.push({ name, op, inputs, ...(aliases ? { aliases } : {}) });
    this.channels.set(name, channels);
    return name;
  }

  conv(
    name: string,
    input: string,
    out: number,
    kernel: number,
    options: { stride?: number; pads?: Pads; group?: number; dilation?: number; bias?: boolean } = {},
  ): string {
    const inChannels = this.channelsOf(input);
    const group = options.group ?? 1;
    const pad = Math.floor(((kernel - 1) * (options.dilation ?? 1)) / 2);
    // He-like scale keeps activations O(1) through the layers, so masks are neither all-on nor all-off.
    const scale = Math.sqrt(3 / ((inChannels / group) * kernel * kernel));
    const op: Op = {
      kind: 'conv',
      weight: { shape: [out, inChannels / group, kernel, kernel], data: uniform(this.random, out * (inChannels / group) * kernel * kernel, -scale, scale) },
      ...(options.bias === false ? {} : { bias: uniform(this.random, out, -0.2, 0.2) }),
      strides: [options.stride ?? 1, options.stride ?? 1],
      pads: options.pads ?? [pad, pad, pad, pad],
      dilations: [options.dilation ?? 1, options.dilation ?? 1],
      group,
    };
    return this.add(name, op, [input], out);
  }

  batchNorm(name: string, input: string): string {
    const c = this.channelsOf(input);
    const op: Op = {
      kind: 'batchNorm',
      scale: uniform(this.random, c, 0.5, 1.5),
      bias: uniform(this.random, c, -0.3, 0.3),
      mean: uniform(this.random, c, -0.2, 0.2),
      variance: uniform(this.random, c, 0.5, 2),
      epsilon: 1e-3,
    };
    return this.add(name, op, [input], c);
  }

  simple(name: string, op: Op, input: string): string {
    return this.add(name, op, [input], this.channelsOf(input));
  }

  maxPool(name: string, input: string, kernel: number, stride: number, ceil: boolean, pads: Pads = [0, 0, 0, 0]): string {
    return this.simple(name, { kind: 'maxPool', kernel: [kernel, kernel], strides: [stride, stride], pads, ceil }, input);
  }
}

export interface TestModel {
  model: CnnModel;
  /** Input size used by the tests (odd on purpose). */
  size: Pair;
  /** Layers worth checking gradients at (a mix of pooled and unpooled, deep and shallow). */
  gradientLayers: string[];
}

function model(name: string, maker: GraphMaker, output: string, size: Pair, preprocessing?: Partial<CnnModel['preprocessing']>): CnnModel {
  return {
    name,
    version: 'test',
    source: { format: 'onnx', path: `${name}.onnx` },
    graph: { inputChannels: 3, nodes: maker.nodes, output },
    preprocessing: { inputSize: size, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], resize: 'stretch', ...preprocessing },
    weightsDigest: '0'.repeat(64),
  };
}

/** Darknet-like: conv + BN (folded) + LeakyReLU, 2x2/2 ceil max pooling at odd sizes, a 1x1 conv. */
export function darknetLike(): TestModel {
  const g = new GraphMaker(seededRandom(1));
  let x = g.conv('conv1', INPUT, 8, 3, { bias: false });
  x = g.batchNorm('bn1', x);
  x = g.simple('leaky1', { kind: 'leakyRelu', alpha: 0.1 }, x);
  x = g.maxPool('pool1', x, 2, 2, true);
  x = g.conv('conv2', x, 12, 3, { bias: false });
  x = g.batchNorm('bn2', x);
  x = g.simple('leaky2', { kind: 'leakyRelu', alpha: 0.1 }, x);
  x = g.maxPool('pool2', x, 2, 2, true);
  x = g.conv('conv3', x, 10, 1);
  x = g.add('gap', { kind: 'globalAvgPool' }, [x], 10);
  return { model: model('darknet-like', g, x, [13, 11], { mean: [0, 0, 0], std: [1, 1, 1] }), size: [13, 11], gradientLayers: ['leaky1', 'pool1', 'leaky2', 'pool2', 'conv3'] };
}

/** MobileNet-like: asymmetric pad + strided conv, BN, Clip, depthwise conv, 1x1 conv, GAP, dense, softmax. */
export function mobilenetLike(): TestModel {
  const g = new GraphMaker(seededRandom(2));
  let x = g.simple('pad1', { kind: 'pad', pads: [0, 0, 1, 1] }, INPUT);
  x = g.conv('conv1', x, 8, 3, { stride: 2, pads: [0, 0, 0, 0], bias: false });
  x = g.batchNorm('bn1', x);
  // max 0.5 instead of ReLU6's 6 so that both sides of the clip mask occur with these weights.
  x = g.simple('relu6_1', { kind: 'clip', min: 0, max: 0.5 }, x);
  x = g.conv('dw2', x, 8, 3, { group: 8, bias: false });
  x = g.batchNorm('bn2', x);
  x = g.simple('relu6_2', { kind: 'clip', min: 0, max: 0.5 }, x);
  x = g.conv('pw3', x, 16, 1, { bias: false });
  x = g.batchNorm('bn3', x);
  x = g.simple('relu6_3', { kind: 'clip', min: 0, max: 0.5 }, x);
  x = g.conv('dw4', x, 32, 3, { group: 16, stride: 2, bias: false }); // depth multiplier 2, strided
  x = g.simple('relu4', { kind: 'relu' }, x);
  x = g.add('gap', { kind: 'globalAvgPool' }, [x], 32);
  x = g.add('flatten', { kind: 'flatten' }, [x], 32);
  x = g.add('dense', { kind: 'dense', weight: { shape: [5, 32], data: uniform(g.random, 5 * 32) }, bias: uniform(g.random, 5, -0.1, 0.1) }, [x], 5);
  x = g.add('softmax', { kind: 'softmax' }, [x], 5);
  return { model: model('mobilenet-like', g, x, [15, 13], { mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] }), size: [15, 13], gradientLayers: ['relu6_1', 'relu6_2', 'dw4', 'relu4', 'gap'] };
}

/**
 * Branches and the remaining ops: residual add, concat, standalone BN (after a ReLU, so
 * nothing to fold into), identity, overlapping padded 3x3/2 max pooling, floor-mode
 * pooling, average pooling with both padding rules, a dilated conv, a grouped conv.
 */
export function branchy(): TestModel {
  const g = new GraphMaker(seededRandom(3));
  const stem = g.simple('stem_relu', { kind: 'relu' }, g.conv('stem', INPUT, 8, 3));
  const a = g.conv('branch_a', stem, 8, 3);
  const b = g.conv('branch_b', stem, 8, 1);
  const sum = g.add('residual', { kind: 'add' }, [a, b, stem], 8);
  const bn = g.batchNorm('bn_free', g.simple('sum_relu', { kind: 'relu' }, sum));
  const cat = g.add('concat', { kind: 'concat' }, [bn, g.conv('grouped', stem, 4, 3, { group: 2 })], 12, ['cat']);
  const same = g.simple('identity', { kind: 'identity' }, cat);
  const overlapping = g.maxPool('pool_overlap', same, 3, 2, false, [1, 1, 1, 1]);
  // Padding at the start only + ceil: the last windows hang past the end of the input (excluded from the divisor).
  const avg = g.simple('avg_excl', { kind: 'avgPool', kernel: [3, 3], strides: [2, 2], pads: [1, 1, 0, 0], ceil: true, countIncludePad: false }, overlapping);
  const dilated = g.simple('dilated_relu', { kind: 'leakyRelu', alpha: 0.2 }, g.conv('dilated', avg, 6, 3, { dilation: 2 }));
  const floorPool = g.maxPool('pool_floor', dilated, 2, 2, false);
  const avgIncl = g.simple('avg_incl', { kind: 'avgPool', kernel: [2, 2], strides: [1, 1], pads: [1, 0, 0, 1], ceil: false, countIncludePad: true }, dilated);
  const out = g.add('head_concat', { kind: 'concat' }, [g.add('gap_a', { kind: 'globalAvgPool' }, [floorPool], 6), g.add('gap_b', { kind: 'globalAvgPool' }, [avgIncl], 6)], 12);
  return {
    model: model('branchy', g, out, [17, 13]),
    size: [17, 13],
    gradientLayers: ['residual', 'bn_free', 'cat', 'pool_overlap', 'avg_excl', 'dilated_relu', 'pool_floor', 'avg_incl', 'head_concat'],
  };
}

/** A softmax over channels inside the feature path (its gradient goes through it). */
export function softmaxInPath(): TestModel {
  const g = new GraphMaker(seededRandom(4));
  const x = g.simple('channel_softmax', { kind: 'softmax' }, g.conv('conv1', INPUT, 4, 3));
  const out = g.conv('conv2', x, 4, 3);
  return { model: model('softmax-in-path', g, out, [9, 9]), size: [9, 9], gradientLayers: ['conv2'] };
}

export const TEST_MODELS = { darknetLike, mobilenetLike, branchy } as const;

/** A seeded batch of n RGB images in [0, 1], NCHW. */
export function randomImages(n: number, size: Pair, seed = 7): { data: Float32Array; n: number; height: number; width: number } {
  return { data: uniform(seededRandom(seed), n * 3 * size[0] * size[1], 0, 1), n, height: size[0], width: size[1] };
}
