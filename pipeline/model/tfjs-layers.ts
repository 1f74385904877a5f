/**
 * TensorFlow.js layers format (model.json + weight shards) -> the one CnnModel graph.
 * Keras is NHWC with HWIO kernels; the graph is NCHW with OIHW kernels. Node names are the
 * Keras layer names; a node named after a layer outputs exactly what that Keras layer outputs
 * (a Conv2D with activation 'relu' becomes `<name>/linear` (conv) + `<name>` (relu)).
 */
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { describeValue, userError } from '../errors.js';
import { INPUT, type AutoPad, type Graph, type GraphNode, type Op, type Pads, type Pair, type Tensor } from './graph.js';
import { inferShapes, type Shape } from './layers.js';
import { samePads } from './padding.js';
import { parseTopology, type KerasLayer } from './tfjs-topology.js';
import { readTfjsWeights } from './tfjs-weights.js';

export interface LoadedGraph {
  graph: Graph;
  /** Input [height, width] the source declares, when static. */
  declaredInputSize?: Pair;
  /** Files that make up the model, in a stable order (for the weights digest). */
  files: string[];
}

/** Size at which size-dependent padding ('same' with stride > 1) is computed when the model does not declare one. */
export const DEFAULT_INPUT_SIZE: Pair = [224, 224];


const pair = (value: unknown, fallback?: Pair): Pair => {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && typeof value[0] === 'number' && typeof value[1] === 'number') return [value[0], value[1]];
  if (fallback) return fallback;
  throw new TypeError(`expected a number or a pair, received ${describeValue(value)}`);
};

/** Keras layer classes this loader converts (for error messages). */
export const SUPPORTED_KERAS_LAYERS = [
  'InputLayer', 'Conv2D', 'DepthwiseConv2D', 'BatchNormalization', 'ReLU', 'LeakyReLU', 'Activation', 'ZeroPadding2D',
  'MaxPooling2D', 'AveragePooling2D', 'GlobalAveragePooling2D', 'Reshape', 'Flatten', 'Dense', 'Dropout', 'Add', 'Concatenate',
];

class Converter {
  readonly nodes: GraphNode[] = [];
  /** Keras layer name -> graph node holding its output. */
  private readonly outputOf = new Map<string, string>();
  /** Nodes holding a channels-last flatten of (C, H, W) with H*W > 1: a following Dense must permute its rows. */
  private readonly flattenedFrom = new Map<string, Shape>();
  private readonly used = new Set<string>();

  constructor(
    private readonly weights: Map<string, Tensor>,
    private readonly file: string,
    private readonly inputSize: Pair,
  ) {}

  private error(layer: KerasLayer, expected: string, received: string, fix?: string): Error {
    return userError({ where: `${this.file} layer ${layer.name} (${layer.className})`, expected, received, fix });
  }

  private inputOf(layer: KerasLayer, index = 0): string {
    // The first layer of a Sequential without an InputLayer reads the model input.
    if (layer.inbound.length === 0 && index === 0) return INPUT;
    const name = layer.inbound[index];
    const node = name === undefined ? undefined : this.outputOf.get(name);
    if (!node) throw this.error(layer, `input ${index} from an earlier layer`, describeValue(name));
    return node;
  }

  private shape(node: string): Shape {
    if (node === INPUT) return inferShapes({ inputChannels: 3, nodes: [], output: INPUT }, this.inputSize).get(INPUT)!;
    return inferShapes({ inputChannels: 3, nodes: this.nodes, output: node }, this.inputSize).get(node)!;
  }

  /** The weight `<layer>/<suffix>` (also under a scope prefix), checked against the expected shape. */
  private take(layer: KerasLayer, suffix: string, expected: number[]): Float32Array {
    const exact = `${layer.name}/${suffix}`;
    const key = this.weights.has(exact) ? exact : [...this.weights.keys()].find((k) => k.endsWith(`/${exact}`));
    const tensor = key === undefined ? undefined : this.weights.get(key);
    if (!key || !tensor) throw this.error(layer, `weight ${exact} in the weightsManifest`, 'none', 'The weight files do not match model.json.');
    if (tensor.shape.join(',') !== expected.join(',')) throw this.error(layer, `weight ${key} of shape [${expected}]`, `[${tensor.shape}]`);
    this.used.add(key);
    return tensor.data;
  }

  private push(name: string, op: Op, inputs: string[]): string {
    this.nodes.push({ name, op, inputs });
    return name;
  }

  private activation(layer: KerasLayer, activation: unknown): Op | undefined {
    switch (activation ?? 'linear') {
      case 'linear':
        return undefined;
      case 'relu':
        return { kind: 'relu' };
      case 'relu6':
        return { kind: 'clip', min: 0, max: 6 };
      case 'softmax':
        return { kind: 'softmax' };
      default:
        throw this.error(layer, 'activation linear, relu, relu6 or softmax', describeValue(activation));
    }
  }

  /** Adds the layer's main op, followed by its activation when it has one; the layer name is its final output. */
  private pushWithActivation(layer: KerasLayer, op: Op, inputs: string[]): string {
    const activation = this.activation(layer, layer.config.activation);
    if (!activation) return this.push(layer.name, op, inputs);
    const linear = this.push(`${layer.name}/linear`, op, inputs);
    return this.push(layer.name, activation, [linear]);
  }

  /** 'same' is TensorFlow's SAME_UPPER: recorded as such, so the pads are recomputed at every image size. */
  private padsFor(layer: KerasLayer, input: string, kernel: Pair, strides: Pair, dilations: Pair): { pads: Pads; autoPad?: AutoPad } {
    const padding = layer.config.padding ?? 'valid';
    if (padding === 'valid') return { pads: [0, 0, 0, 0] };
    if (padding !== 'same') throw this.error(layer, "padding 'same' or 'valid'", describeValue(padding));
    const { height, width } = this.shape(input);
    return { pads: samePads([height, width], kernel, strides, dilations), autoPad: 'same-upper' };
  }

  private checkChannelsLast(layer: KerasLayer): void {
    const format = layer.config.data_format;
    if (format !== undefined && format !== null && format !== 'channels_last') {
      throw this.error(layer, "data_format 'channels_last'", describeValue(format), 'Re-export the model channels-last (the TensorFlow.js default).');
    }
  }

  private conv(layer: KerasLayer, depthwise: boolean): string {
    this.checkChannelsLast(layer);
    const c = layer.config;
    const input = this.inputOf(layer);
    const inChannels = this.shape(input).channels;
    const [kh, kw] = pair(c.kernel_size);
    const strides = pair(c.strides, [1, 1]);
    const dilations = pair(c.dilation_rate, [1, 1]);
    const useBias = c.use_bias !== false;
    let weight: Tensor;
    let group: number;
    if (depthwise) {
      const multiplier = typeof c.depth_multiplier === 'number' ? c.depth_multiplier : 1;
      const dw = this.take(layer, 'depthwise_kernel', [kh, kw, inChannels, multiplier]);
      // [kh, kw, C, M] -> [C*M, 1, kh, kw]; output channel c*M + m, as Keras orders them.
      const data = new Float32Array(dw.length);
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++)
          for (let ch = 0; ch < inChannels; ch++)
            for (let m = 0; m < multiplier; m++) data[((ch * multiplier + m) * kh + y) * kw + x] = dw[((y * kw + x) * inChannels + ch) * multiplier + m];
      weight = { shape: [inChannels * multiplier, 1, kh, kw], data };
      group = inChannels;
    } else {
      group = typeof c.groups === 'number' ? c.groups : 1;
      const filters = Number(c.filters);
      const perGroup = inChannels / group;
      const hwio = this.take(layer, 'kernel', [kh, kw, perGroup, filters]);
      const data = new Float32Array(hwio.length);
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++)
          for (let i = 0; i < perGroup; i++)
            for (let o = 0; o < filters; o++) data[((o * perGroup + i) * kh + y) * kw + x] = hwio[((y * kw + x) * perGroup + i) * filters + o];
      weight = { shape: [filters, perGroup, kh, kw], data };
    }
    const bias = useBias ? this.take(layer, 'bias', [weight.shape[0]]) : undefined;
    const { pads, autoPad } = this.padsFor(layer, input, [kh, kw], strides, dilations);
    return this.pushWithActivation(layer, { kind: 'conv', weight, bias, strides, pads, dilations, group, ...(autoPad ? { autoPad } : {}) }, [input]);
  }

  private batchNorm(layer: KerasLayer): string {
    const c = layer.config;
    const axis = Array.isArray(c.axis) && c.axis.length === 1 ? c.axis[0] : c.axis;
    if (axis !== -1 && axis !== 3) throw this.error(layer, 'normalisation over channels (axis -1 or 3)', describeValue(c.axis));
    const input = this.inputOf(layer);
    const n = this.shape(input).channels;
    const scale = c.scale === false ? new Float32Array(n).fill(1) : this.take(layer, 'gamma', [n]);
    const bias = c.center === false ? new Float32Array(n) : this.take(layer, 'beta', [n]);
    const mean = this.take(layer, 'moving_mean', [n]);
    const variance = this.take(layer, 'moving_variance', [n]);
    const epsilon = typeof c.epsilon === 'number' ? c.epsilon : 1e-3;
    return this.push(layer.name, { kind: 'batchNorm', scale, bias, mean, variance, epsilon }, [input]);
  }

  private relu(layer: KerasLayer): Op {
    const c = layer.config;
    const max = typeof c.max_value === 'number' ? c.max_value : undefined;
    const slope = typeof c.negative_slope === 'number' ? c.negative_slope : 0;
    const threshold = typeof c.threshold === 'number' ? c.threshold : 0;
    if (threshold !== 0 || (slope !== 0 && max !== undefined)) throw this.error(layer, 'ReLU with threshold 0 and either max_value or negative_slope', JSON.stringify({ max_value: max, negative_slope: slope, threshold }));
    if (max !== undefined) return { kind: 'clip', min: 0, max };
    return slope === 0 ? { kind: 'relu' } : { kind: 'leakyRelu', alpha: slope };
  }

  private pool(layer: KerasLayer, kind: 'maxPool' | 'avgPool'): string {
    this.checkChannelsLast(layer);
    const input = this.inputOf(layer);
    const kernel = pair(layer.config.pool_size, [2, 2]);
    const strides = pair(layer.config.strides ?? kernel);
    let padding: { pads: Pads; autoPad?: AutoPad } = { pads: [0, 0, 0, 0] };
    let ceil = false;
    if (layer.config.padding === 'same' && kernel[0] === 2 && kernel[1] === 2 && strides[0] === 2 && strides[1] === 2) {
      ceil = true; // TF pads 2x2/2 only after, with -inf / excluded: exactly ceil mode at every size.
    } else {
      padding = this.padsFor(layer, input, kernel, strides, [1, 1]);
    }
    const common = { kernel, strides, ...padding, ceil };
    const op: Op = kind === 'maxPool' ? { kind, ...common } : { kind, ...common, countIncludePad: false };
    return this.push(layer.name, op, [input]);
  }

  private zeroPadding(layer: KerasLayer): string {
    this.checkChannelsLast(layer);
    const p = layer.config.padding ?? 1;
    let pads: Pads;
    if (typeof p === 'number') pads = [p, p, p, p];
    else if (Array.isArray(p) && typeof p[0] === 'number' && typeof p[1] === 'number') pads = [p[0], p[1], p[0], p[1]];
    else if (Array.isArray(p) && Array.isArray(p[0]) && Array.isArray(p[1])) pads = [Number(p[0][0]), Number(p[1][0]), Number(p[0][1]), Number(p[1][1])];
    else throw this.error(layer, 'padding n, [h, w] or [[top, bottom], [left, right]]', describeValue(p));
    return this.push(layer.name, { kind: 'pad', pads }, [this.inputOf(layer)]);
  }

  private reshape(layer: KerasLayer): string {
    const input = this.inputOf(layer);
    const { channels, height, width } = this.shape(input);
    const target = Array.isArray(layer.config.target_shape) ? layer.config.target_shape.map(Number) : [];
    const size = channels * height * width;
    if (height * width === 1 && target.length === 3 && target[0] === 1 && target[1] === 1 && target[2] === channels) {
      return this.push(layer.name, { kind: 'identity' }, [input]); // (N, 1, 1, C) is already (N, C, 1, 1) in NCHW
    }
    if (target.length === 1 && (target[0] === size || target[0] === -1)) return this.flatten(layer, input);
    throw this.error(layer, `a Reshape to [1, 1, ${channels}] after global pooling or to [${size}] (flatten)`, `target_shape [${target}] for input ${height}x${width}x${channels}`);
  }

  private flatten(layer: KerasLayer, input: string): string {
    const shape = this.shape(input);
    const name = this.push(layer.name, { kind: 'flatten' }, [input]);
    if (shape.height * shape.width > 1) this.flattenedFrom.set(name, shape);
    return name;
  }

  private dense(layer: KerasLayer): string {
    const input = this.inputOf(layer);
    const shape = this.shape(input);
    if (shape.height * shape.width !== 1) throw this.error(layer, 'a Dense layer after Flatten or global pooling', `an input of ${shape.height}x${shape.width}x${shape.channels}`);
    const units = Number(layer.config.units);
    const kernel = this.take(layer, 'kernel', [shape.channels, units]);
    // Keras flattens H, W, C (channels last); the graph flattens C, H, W: permute the kernel rows to match.
    const from = this.flattenedFrom.get(input);
    const data = new Float32Array(kernel.length);
    for (let o = 0; o < units; o++) {
      for (let j = 0; j < shape.channels; j++) {
        let k = j;
        if (from) {
          const plane = from.height * from.width;
          const ch = Math.floor(j / plane);
          k = (j % plane) * from.channels + ch;
        }
        data[o * shape.channels + j] = kernel[k * units + o];
      }
    }
    const bias = layer.config.use_bias !== false ? this.take(layer, 'bias', [units]) : undefined;
    // The graph's dense acts on the last axis: a (N, C, 1, 1) map from global pooling is flattened first.
    const vector = shape.dims.length === 1 ? input : this.push(`${layer.name}/flatten`, { kind: 'flatten' }, [input]);
    return this.pushWithActivation(layer, { kind: 'dense', weight: { shape: [units, shape.channels], data }, bias }, [vector]);
  }

  private identity(layer: KerasLayer): string {
    const input = this.inputOf(layer);
    const name = this.push(layer.name, { kind: 'identity' }, [input]);
    const from = this.flattenedFrom.get(input);
    if (from) this.flattenedFrom.set(name, from);
    return name;
  }

  convert(layer: KerasLayer): void {
    try {
      this.convertLayer(layer);
    } catch (error) {
      // A malformed config value (pair() and friends): report it against the layer.
      if (error instanceof TypeError) throw this.error(layer, 'a valid layer config', error.message);
      throw error;
    }
  }

  private convertLayer(layer: KerasLayer): void {
    const all = () => layer.inbound.map((_, i) => this.inputOf(layer, i));
    let output: string;
    switch (layer.className) {
      case 'InputLayer':
        output = INPUT;
        break;
      case 'Conv2D':
        output = this.conv(layer, false);
        break;
      case 'DepthwiseConv2D':
        output = this.conv(layer, true);
        break;
      case 'BatchNormalization':
        output = this.batchNorm(layer);
        break;
      case 'ReLU':
        output = this.push(layer.name, this.relu(layer), [this.inputOf(layer)]);
        break;
      case 'LeakyReLU': {
        const alpha = layer.config.alpha ?? layer.config.negative_slope ?? 0.3;
        output = this.push(layer.name, { kind: 'leakyRelu', alpha: Number(alpha) }, [this.inputOf(layer)]);
        break;
      }
      case 'Activation': {
        const op = this.activation(layer, layer.config.activation);
        output = this.push(layer.name, op ?? { kind: 'identity' }, [this.inputOf(layer)]);
        break;
      }
      case 'ZeroPadding2D':
        output = this.zeroPadding(layer);
        break;
      case 'MaxPooling2D':
        output = this.pool(layer, 'maxPool');
        break;
      case 'AveragePooling2D':
        output = this.pool(layer, 'avgPool');
        break;
      case 'GlobalAveragePooling2D':
        this.checkChannelsLast(layer);
        output = this.push(layer.name, { kind: 'globalAvgPool' }, [this.inputOf(layer)]);
        break;
      case 'Reshape':
        output = this.reshape(layer);
        break;
      case 'Flatten':
        output = this.flatten(layer, this.inputOf(layer));
        break;
      case 'Dense':
        output = this.dense(layer);
        break;
      case 'Dropout':
        output = this.identity(layer);
        break;
      case 'Add':
        output = this.push(layer.name, { kind: 'add' }, all());
        break;
      case 'Concatenate': {
        const axis = layer.config.axis ?? -1;
        if (axis !== -1 && axis !== 3) throw this.error(layer, 'concatenation along channels (axis -1 or 3)', describeValue(axis));
        output = this.push(layer.name, { kind: 'concat' }, all());
        break;
      }
      default:
        throw this.error(layer, `a supported layer class (${SUPPORTED_KERAS_LAYERS.join(', ')})`, `unsupported layer class ${layer.className}`, 'Export the model to ONNX if it uses other layers, or ask for the layer to be supported.');
    }
    this.outputOf.set(layer.name, output);
  }

  outputNode(kerasName: string): string {
    return this.outputOf.get(kerasName)!;
  }

  unusedWeights(): string[] {
    return [...this.weights.keys()].filter((k) => !this.used.has(k));
  }
}

/** Reads a TensorFlow.js layers model.json and its weight shards into the model graph. */
export async function loadTfjsLayersGraph(modelJson: string, options: { inputSize?: Pair } = {}): Promise<LoadedGraph> {
  let parsed: { modelTopology?: unknown; weightsManifest?: unknown };
  try {
    parsed = JSON.parse(await readFile(modelJson, 'utf8'));
  } catch (error) {
    throw userError({ where: modelJson, expected: 'a readable TensorFlow.js model.json', received: error instanceof Error ? error.message : String(error) }, error);
  }
  const topology = parseTopology(parsed.modelTopology, modelJson);
  const declared = topology.inputShape;
  if (declared && declared.length === 3 && declared[2] !== 3) {
    throw userError({ where: `${modelJson} input ${topology.input}`, expected: 'an RGB input (height, width, 3)', received: `shape [${declared.map(String)}]` });
  }
  const declaredInputSize: Pair | undefined = declared && typeof declared[0] === 'number' && typeof declared[1] === 'number' ? [declared[0], declared[1]] : undefined;
  const weights = await readTfjsWeights(parsed.weightsManifest, dirname(modelJson), modelJson);
  const converter = new Converter(weights.tensors, modelJson, options.inputSize ?? declaredInputSize ?? DEFAULT_INPUT_SIZE);
  for (const layer of topology.layers) converter.convert(layer);
  const unused = converter.unusedWeights();
  if (unused.length > 0) {
    throw userError({ where: `${modelJson} weightsManifest`, expected: 'every weight to belong to a converted layer', received: `unused weights ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}`, fix: 'The weight files do not match model.json.' });
  }
  const graph: Graph = { inputChannels: 3, nodes: converter.nodes, output: converter.outputNode(topology.output) };
  return { graph, declaredInputSize, files: [modelJson, ...weights.files] };
}
