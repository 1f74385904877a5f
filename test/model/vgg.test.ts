/**
 * VGG-16 from a safetensors state dict. The real ImageNet weights are not reachable here, so the
 * tests write the real keys and shapes with generated values (through the product's writer).
 */
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { describeLayers } from '../../pipeline/model/describe.js';
import type { CnnModel, Op, Tensor } from '../../pipeline/model/graph.js';
import { findNode, inferShapes } from '../../pipeline/model/layers.js';
import { loadModel } from '../../pipeline/model/load.js';
import { countParameters } from '../../pipeline/model/params.js';
import { encodeSafetensors, parseSafetensors, writeSafetensors } from '../../pipeline/model/safetensors.js';
import { findBuiltin } from '../../pipeline/model/builtins.js';
import { vggGraph, vggStateDictShapes, type VggArch } from '../../pipeline/model/vgg.js';

/** Deterministic values in [-0.5, 0.5): a tiny LCG (fast for 15 M values). */
function generated(arch: VggArch): Array<[string, Tensor]> {
  let state = 12345;
  return vggStateDictShapes(arch).map(([key, shape]) => {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    for (let i = 0; i < data.length; i++) {
      state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
      data[i] = state / 2 ** 32 - 0.5;
    }
    return [key, { shape, data }];
  });
}

/** Same keys and shapes, zero-filled, edited: for the error cases (parsed in memory). */
function zeros(arch: VggArch, edit: (list: Array<[string, number[]]>) => Array<[string, number[]]>, head: 'none' | 'torchvision' = 'none') {
  const list = edit(vggStateDictShapes(arch, head));
  const bytes = encodeSafetensors(list.map(([k, shape]): [string, Tensor] => [k, { shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }]));
  return parseSafetensors(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), 'edited.safetensors');
}

let folder: string;
let path: string;
let tensors: Array<[string, Tensor]>;
let model: CnnModel;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'filter-atlas-vgg-'));
  path = join(folder, 'model.safetensors');
  tensors = generated('vgg16_bn');
  await writeSafetensors(path, tensors, { format: 'pt' });
  model = await loadModel(path, { arch: 'vgg16_bn' });
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('vgg16_bn from safetensors', () => {
  it("lists torchvision's features with the article's layer indices", () => {
    const rows = describeLayers(model);
    expect(rows).toHaveLength(44);
    const at = (i: number) => rows[i];
    expect(at(7)).toMatchObject({ name: 'features.7', aliases: ['7'], type: 'conv', channels: 128 });
    expect(at(14)).toMatchObject({ type: 'conv', channels: 256 });
    expect(at(20)).toMatchObject({ type: 'conv', channels: 256 });
    expect(at(30)).toMatchObject({ type: 'conv', channels: 512 });
    expect(at(40)).toMatchObject({ type: 'conv', channels: 512, height: 14, width: 14 });
    expect(at(41)).toMatchObject({ type: 'batchNorm', channels: 512 });
    expect(at(42)).toMatchObject({ name: 'features.42', type: 'relu', channels: 512 });
    expect(at(43)).toMatchObject({ type: 'maxPool', height: 7, width: 7 });
    expect(rows.filter((r) => r.type === 'conv')).toHaveLength(13);
    expect(findNode(model.graph, '42').name).toBe('features.42');
  });

  it('has the output shape 512 x 7 x 7 at 224 and floor-mode pooling', () => {
    expect(model.graph.output).toBe('features.43');
    expect(inferShapes(model.graph, [224, 224]).get(model.graph.output)).toMatchObject({ channels: 512, height: 7, width: 7 });
    // torch MaxPool2d(2, 2) rounds down: 67 -> 33 (Keras 'same' would give 34).
    expect(inferShapes(model.graph, [67, 67]).get('features.6')).toMatchObject({ height: 33, width: 33 });
  });

  it('keeps every tensor where torchvision has it', () => {
    const byKey = new Map(tensors);
    const conv = findNode(model.graph, '40').op as Extract<Op, { kind: 'conv' }>;
    expect(conv).toMatchObject({ pads: [1, 1, 1, 1], strides: [1, 1], group: 1 });
    expect(Array.from(conv.weight.data.subarray(0, 5))).toEqual(Array.from(byKey.get('features.40.weight')!.data.subarray(0, 5)));
    expect(Array.from(conv.bias!.subarray(500))).toEqual(Array.from(byKey.get('features.40.bias')!.data.subarray(500)));
    const bn = findNode(model.graph, '41').op as Extract<Op, { kind: 'batchNorm' }>;
    expect(bn.epsilon).toBe(1e-5);
    expect(Array.from(bn.variance.subarray(0, 3))).toEqual(Array.from(byKey.get('features.41.running_var')!.data.subarray(0, 3)));
    expect(Array.from(bn.scale.subarray(0, 3))).toEqual(Array.from(byKey.get('features.41.weight')!.data.subarray(0, 3)));
    expect(countParameters(model.graph)).toBe(14_723_136 + 2 * 4_224); // torchvision params + BN running stats
  });

  it('digests the file and records the architecture; a features-only file has no labels', async () => {
    expect(model.weightsDigest).toBe(createHash('sha256').update(await readFile(path)).digest('hex'));
    expect(model.source).toEqual({ format: 'safetensors', path, architecture: 'vgg16_bn' });
    expect(model.labels).toBeUndefined();
    expect(model.preprocessing).toMatchObject({ inputSize: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  });

  it('names the key, expected and received shape of a missing or mis-shaped tensor', () => {
    const missing = zeros('vgg16_bn', (l) => l.filter(([k]) => k !== 'features.41.running_var'));
    expect(() => vggGraph(missing, 'vgg16_bn')).toThrow('edited.safetensors key features.41.running_var: expected a tensor of shape [512], received missing');
    const misShaped = zeros('vgg16_bn', (l) => l.map(([k, s]) => (k === 'features.40.weight' ? [k, [512, 512, 1, 1]] : [k, s])));
    expect(() => vggGraph(misShaped, 'vgg16_bn')).toThrow('edited.safetensors key features.40.weight: expected shape [512, 512, 3, 3], received [512, 512, 1, 1]');
    const extra = zeros('vgg16_bn', (l) => [...l, ['features.44.weight', [4]]]);
    expect(() => vggGraph(extra, 'vgg16_bn')).toThrow('edited.safetensors: expected only the keys of torchvision\'s vgg16_bn, received unexpected keys features.44.weight');
  });

  it('builds vgg16 without BatchNorm and refuses a vgg16_bn file under --arch vgg16', () => {
    const { graph, classes } = vggGraph(zeros('vgg16', (l) => l), 'vgg16');
    expect(graph.nodes).toHaveLength(31);
    expect(classes).toBeUndefined();
    expect(graph.nodes.filter((n) => n.op.kind === 'batchNorm')).toHaveLength(0);
    expect(findNode(graph, '28').op.kind).toBe('conv');
    expect(findNode(graph, '29').op.kind).toBe('relu');
    expect(() => vggGraph(zeros('vgg16_bn', (l) => l), 'vgg16')).toThrow(/key features\.2\.weight: expected a tensor of shape \[64, 64, 3, 3\], received missing\. Check --arch/);
  });

  it('requires --arch for a safetensors file', async () => {
    await expect(loadModel(path)).rejects.toThrow('model.safetensors: expected --arch for a safetensors state dict (one of vgg16_bn, vgg16), received no architecture');
  });

  it('loads the built-in vgg16_bn from its asset folder (timm tv_in1k layout: conv pre_logits + head.fc, ImageNet labels)', async () => {
    const builtin = await findBuiltin('vgg16_bn')!.load(folder);
    expect(builtin).toMatchObject({ name: 'vgg16_bn', source: { architecture: 'vgg16_bn' } });
    // The real file's head: timm stores torchvision's classifier reshaped as 7x7 and 1x1 convs (~0.5 GB of zeros here).
    const timm: Array<[string, number[]]> = [
      ['pre_logits.fc1.weight', [4096, 512, 7, 7]], ['pre_logits.fc1.bias', [4096]], ['pre_logits.fc2.weight', [4096, 4096, 1, 1]],
      ['pre_logits.fc2.bias', [4096]], ['head.fc.weight', [1000, 4096]], ['head.fc.bias', [1000]], ['features.1.num_batches_tracked', [1]],
    ];
    const { graph, classes } = vggGraph(zeros('vgg16_bn', (l) => [...l, ...timm]), 'vgg16_bn');
    expect(classes).toBe(1000);
    expect(graph.nodes.slice(44).map((n) => `${n.name}:${n.op.kind}`)).toEqual([
      'pre_logits.fc1:conv', 'pre_logits.act1:relu', 'pre_logits.fc2:conv', 'pre_logits.act2:relu', 'head.global_pool:globalAvgPool', 'head.flatten:flatten', 'head.fc:dense',
    ]);
    expect(inferShapes(graph, [224, 224]).get('pre_logits.fc1')).toMatchObject({ channels: 4096, height: 1, width: 1 });
    expect(countParameters(graph)).toBe(138_365_992 + 2 * 4_224); // torchvision's vgg16_bn + BN running stats
  });
});
