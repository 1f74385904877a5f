/**
 * torchvision VGG-16 (configuration D), with or without BatchNorm, from a state dict.
 * Nodes are named as torchvision's modules (`features.40`, alias `40`), so the article's
 * layer indices (7, 14, 20, 30, 40; 42 = ReLU after conv 40) address the same layers.
 * Heads: torchvision `classifier.0/3/6` (Linear) or timm `pre_logits.fc1/fc2` (7x7 and 1x1
 * convs) + `head.fc` (timm's vgg16_bn.tv_in1k is torchvision's weights reshaped); none = features only.
 */
import { userError } from '../errors.js';
import { INPUT, type Graph, type GraphNode, type Tensor } from './graph.js';
import type { SafetensorsFile } from './safetensors.js';

export type VggArch = 'vgg16_bn' | 'vgg16';
export const VGG_ARCHS: readonly VggArch[] = ['vgg16_bn', 'vgg16'];
export const isVggArch = (value: unknown): value is VggArch => value === 'vgg16_bn' || value === 'vgg16';

const CONFIG_D: (number | 'M')[] = [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 512, 512, 'M', 512, 512, 512, 'M'];
/** torchvision BatchNorm2d default. */
const BN_EPSILON = 1e-5;

/** Every key this architecture reads, with its shape (features and, when present, one head). */
class Weights {
  readonly used = new Set<string>();
  constructor(
    private readonly file: SafetensorsFile,
    private readonly arch: VggArch,
    private readonly prefix: string,
  ) {}

  has(key: string): boolean {
    return this.file.entries.has(this.prefix + key);
  }

  /** Leading dimension of a stored tensor (the class count of a head), if present. */
  rows(key: string): number | undefined {
    return this.file.entries.get(this.prefix + key)?.shape[0];
  }

  take(key: string, expected: number[]): Tensor {
    const full = this.prefix + key;
    const entry = this.file.entries.get(full);
    const fix = `Check --arch: ${this.arch} expects torchvision's ${this.arch} state dict (vgg16_bn has BatchNorm at features.1, 4, ...; vgg16 has none).`;
    if (!entry) throw userError({ where: `${this.file.path} key ${full}`, expected: `a tensor of shape [${expected.join(', ')}]`, received: 'missing', fix });
    if (entry.shape.join(',') !== expected.join(',')) {
      throw userError({ where: `${this.file.path} key ${full}`, expected: `shape [${expected.join(', ')}]`, received: `[${entry.shape.join(', ')}]`, fix });
    }
    this.used.add(full);
    return this.file.get(full);
  }
}

/** `module.features.0.weight` -> `module.`: state dicts saved from a wrapper carry a prefix. */
function keyPrefix(file: SafetensorsFile): string {
  const first = [...file.entries.keys()].find((k) => k.endsWith('features.0.weight'));
  return first ? first.slice(0, -'features.0.weight'.length) : '';
}

function features(w: Weights, arch: VggArch, nodes: GraphNode[]): string {
  let previous = INPUT;
  let channels = 3;
  let index = 0;
  const add = (op: GraphNode['op']) => {
    const name = `features.${index}`;
    nodes.push({ name, aliases: [String(index)], op, inputs: [previous] });
    previous = name;
    index += 1;
  };
  for (const v of CONFIG_D) {
    if (v === 'M') {
      // torchvision MaxPool2d(2, 2): floor mode (not the Keras 'same' ceil mode of darknet).
      add({ kind: 'maxPool', kernel: [2, 2], strides: [2, 2], pads: [0, 0, 0, 0], ceil: false });
      continue;
    }
    const weight = w.take(`features.${index}.weight`, [v, channels, 3, 3]);
    const bias = w.take(`features.${index}.bias`, [v]).data;
    add({ kind: 'conv', weight, bias, strides: [1, 1], pads: [1, 1, 1, 1], dilations: [1, 1], group: 1 });
    if (arch === 'vgg16_bn') {
      const k = `features.${index}`;
      add({
        kind: 'batchNorm',
        scale: w.take(`${k}.weight`, [v]).data,
        bias: w.take(`${k}.bias`, [v]).data,
        mean: w.take(`${k}.running_mean`, [v]).data,
        variance: w.take(`${k}.running_var`, [v]).data,
        epsilon: BN_EPSILON,
      });
    }
    add({ kind: 'relu' });
    channels = v;
  }
  return previous;
}

function denseNode(w: Weights, key: string, shape: [number, number], input: string): GraphNode {
  return { name: key, op: { kind: 'dense', weight: w.take(`${key}.weight`, shape), bias: w.take(`${key}.bias`, [shape[0]]).data }, inputs: [input] };
}

/** torchvision: avgpool (AdaptiveAvgPool2d(7): the identity at 224 px, where the features are 7x7) + flatten + 3 Linear. */
function torchvisionHead(w: Weights, nodes: GraphNode[], input: string): number {
  const classes = w.rows('classifier.6.weight') ?? 1000;
  nodes.push({ name: 'avgpool', op: { kind: 'identity' }, inputs: [input] });
  nodes.push({ name: 'flatten', op: { kind: 'flatten' }, inputs: ['avgpool'] });
  nodes.push(denseNode(w, 'classifier.0', [4096, 512 * 7 * 7], 'flatten'));
  nodes.push({ name: 'classifier.1', op: { kind: 'relu' }, inputs: ['classifier.0'] });
  nodes.push({ name: 'classifier.2', op: { kind: 'identity' }, inputs: ['classifier.1'] });
  nodes.push(denseNode(w, 'classifier.3', [4096, 4096], 'classifier.2'));
  nodes.push({ name: 'classifier.4', op: { kind: 'relu' }, inputs: ['classifier.3'] });
  nodes.push({ name: 'classifier.5', op: { kind: 'identity' }, inputs: ['classifier.4'] });
  nodes.push(denseNode(w, 'classifier.6', [classes, 4096], 'classifier.5'));
  return classes;
}

/** timm: pre_logits (conv 7x7 + ReLU + conv 1x1 + ReLU) + head (global average pool + Linear). */
function timmHead(w: Weights, nodes: GraphNode[], input: string, classes: number): void {
  const conv = (key: string, shape: number[], from: string): GraphNode => ({
    name: key,
    op: { kind: 'conv', weight: w.take(`${key}.weight`, shape), bias: w.take(`${key}.bias`, [shape[0]]).data, strides: [1, 1], pads: [0, 0, 0, 0], dilations: [1, 1], group: 1 },
    inputs: [from],
  });
  nodes.push(conv('pre_logits.fc1', [4096, 512, 7, 7], input));
  nodes.push({ name: 'pre_logits.act1', op: { kind: 'relu' }, inputs: ['pre_logits.fc1'] });
  nodes.push(conv('pre_logits.fc2', [4096, 4096, 1, 1], 'pre_logits.act1'));
  nodes.push({ name: 'pre_logits.act2', op: { kind: 'relu' }, inputs: ['pre_logits.fc2'] });
  nodes.push({ name: 'head.global_pool', op: { kind: 'globalAvgPool' }, inputs: ['pre_logits.act2'] });
  nodes.push({ name: 'head.flatten', op: { kind: 'flatten' }, inputs: ['head.global_pool'] });
  nodes.push(denseNode(w, 'head.fc', [classes, 4096], 'head.flatten'));
}

export interface VggGraph {
  graph: Graph;
  /** Output classes of the head, or undefined for a features-only file. */
  classes?: number;
}

/** Builds the VGG-16 graph from a state dict; every tensor is checked by key and shape, unknown keys are refused. */
export function vggGraph(file: SafetensorsFile, arch: VggArch): VggGraph {
  const prefix = keyPrefix(file);
  const w = new Weights(file, arch, prefix);
  const nodes: GraphNode[] = [];
  let output = features(w, arch, nodes);
  let classes: number | undefined;
  if (w.has('classifier.0.weight') || w.has('classifier.6.weight')) {
    classes = torchvisionHead(w, nodes, output);
  } else if (w.has('pre_logits.fc1.weight') || w.has('head.fc.weight')) {
    classes = w.rows('head.fc.weight') ?? 1000;
    timmHead(w, nodes, output, classes);
  }
  output = nodes[nodes.length - 1].name;
  const unexpected = [...file.entries.keys()].filter((k) => !w.used.has(k) && !k.endsWith('num_batches_tracked'));
  if (unexpected.length > 0) {
    throw userError({
      where: file.path,
      expected: `only the keys of torchvision's ${arch}`,
      received: `unexpected keys ${unexpected.slice(0, 5).join(', ')}${unexpected.length > 5 ? ` and ${unexpected.length - 5} more` : ''}`,
      fix: 'Check --arch (vgg16_bn or vgg16); other architectures need an ONNX export.',
    });
  }
  return { graph: { inputChannels: 3, nodes, output }, classes };
}

/** Random weights with the real keys and shapes (for tests and demos): torchvision's state dict order. */
export function vggStateDictShapes(arch: VggArch, head: 'none' | 'torchvision' = 'none'): Array<[string, number[]]> {
  const out: Array<[string, number[]]> = [];
  let channels = 3;
  let index = 0;
  for (const v of CONFIG_D) {
    if (v === 'M') {
      index += 1;
      continue;
    }
    out.push([`features.${index}.weight`, [v, channels, 3, 3]], [`features.${index}.bias`, [v]]);
    if (arch === 'vgg16_bn') {
      index += 1;
      for (const s of ['weight', 'bias', 'running_mean', 'running_var']) out.push([`features.${index}.${s}`, [v]]);
    }
    index += 2;
    channels = v;
  }
  if (head === 'torchvision') {
    out.push(['classifier.0.weight', [4096, 25088]], ['classifier.0.bias', [4096]], ['classifier.3.weight', [4096, 4096]]);
    out.push(['classifier.3.bias', [4096]], ['classifier.6.weight', [1000, 4096]], ['classifier.6.bias', [1000]]);
  }
  return out;
}
