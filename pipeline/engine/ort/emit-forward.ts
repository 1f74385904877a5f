/**
 * Lowers the model graph's forward pass to ONNX nodes: preprocessing first (so engine
 * inputs are RGB in [0, 1]), then every planned node. Records what the backward pass
 * needs: each node's input/output tensors, the effective (BatchNorm-folded) conv, and
 * max-pool indices.
 */
import { INPUT, type CnnModel, type GraphNode, type Op } from '../../model/graph.js';
import type { Shape } from '../../model/layers.js';
import type { OnnxGraphBuilder } from './onnx-builder.js';
import { batchNormAffine, foldBatchNorm, type ConvOp, type Plan } from './plan.js';

export interface Lowered {
  /** Model node name (and INPUT) -> tensor holding its output. */
  tensors: Map<string, string>;
  /** Node name -> the conv actually emitted for it (a BatchNorm that absorbed its conv maps to the folded conv). */
  convs: Map<string, ConvOp>;
  /** Max-pool node name -> its indices tensor (only when requested). */
  poolIndices: Map<string, string>;
  /** The image input (RGB [0, 1]) and the preprocessed model input. */
  image: string;
  modelInput: string;
}

export function perChannel(builder: OnnxGraphBuilder, hint: string, values: ArrayLike<number>): string {
  return builder.floatTensor(hint, Float32Array.from(values), [1, values.length, 1, 1]);
}

export function convAttributes(op: ConvOp): Record<string, number[] | number> {
  return {
    kernel_shape: [op.weight.shape[2], op.weight.shape[3]],
    strides: op.strides,
    pads: op.pads, // both [top, left, bottom, right] = ONNX [x1_begin, x2_begin, x1_end, x2_end]
    dilations: op.dilations,
    group: op.group,
  };
}

function emitNode(builder: OnnxGraphBuilder, node: GraphNode, op: Op, inputs: string[], withIndices: boolean, lowered: Lowered): string {
  const name = node.name;
  switch (op.kind) {
    case 'conv': {
      const args = [inputs[0], builder.floatTensor(`${name}.weight`, op.weight.data, op.weight.shape)];
      if (op.bias) args.push(builder.floatTensor(`${name}.bias`, op.bias, [op.bias.length]));
      lowered.convs.set(name, op);
      return builder.op('Conv', args, name, convAttributes(op));
    }
    case 'batchNorm': {
      const { scale, shift } = batchNormAffine(op);
      const scaled = builder.op('Mul', [inputs[0], perChannel(builder, `${name}.scale`, scale)], `${name}/scaled`);
      return builder.op('Add', [scaled, perChannel(builder, `${name}.shift`, shift)], name);
    }
    case 'relu':
      return builder.op('Relu', inputs, name);
    case 'leakyRelu':
      return builder.op('LeakyRelu', inputs, name, { alpha: op.alpha });
    case 'clip':
      return builder.op('Clip', [inputs[0], builder.scalar(`${name}.min`, op.min), builder.scalar(`${name}.max`, op.max)], name);
    case 'maxPool': {
      const attributes = { kernel_shape: op.kernel, strides: op.strides, pads: op.pads, ceil_mode: op.ceil ? 1 : 0 };
      if (!withIndices) return builder.op('MaxPool', inputs, name, attributes);
      const [output, indices] = builder.node('MaxPool', inputs, [name, `${name}/indices`], attributes);
      lowered.poolIndices.set(name, indices);
      return output;
    }
    case 'avgPool':
      return builder.op('AveragePool', inputs, name, {
        kernel_shape: op.kernel,
        strides: op.strides,
        pads: op.pads,
        ceil_mode: op.ceil ? 1 : 0,
        count_include_pad: op.countIncludePad ? 1 : 0,
      });
    case 'globalAvgPool':
      return builder.op('GlobalAveragePool', inputs, name);
    case 'pad': {
      const [top, left, bottom, right] = op.pads;
      return builder.op('Pad', [inputs[0], builder.int64Tensor(`${name}.pads`, [0, 0, top, left, 0, 0, bottom, right])], name, { mode: 'constant' });
    }
    case 'add':
      return inputs.length === 1 ? builder.op('Identity', inputs, name) : builder.op('Sum', inputs, name);
    case 'concat':
      return builder.op('Concat', inputs, name, { axis: 1 });
    case 'dense': {
      // Tensors stay 4-D (N, C, 1, 1) so every layer reads back as feature maps.
      const flat = builder.op('Flatten', inputs, `${name}/flat`, { axis: 1 });
      const args = [flat, builder.floatTensor(`${name}.weight`, op.weight.data, op.weight.shape)];
      if (op.bias) args.push(builder.floatTensor(`${name}.bias`, op.bias, [op.bias.length]));
      const gemm = builder.op('Gemm', args, `${name}/gemm`, { transB: 1 });
      return builder.op('Unsqueeze', [gemm, builder.int64Tensor(`${name}.axes`, [2, 3])], name);
    }
    case 'flatten':
      return builder.op('Reshape', [inputs[0], builder.int64Tensor(`${name}.shape`, [0, -1, 1, 1])], name);
    case 'softmax':
      return builder.op('Softmax', inputs, name, { axis: 1 });
    case 'identity':
      return builder.op('Identity', inputs, name);
  }
}

/**
 * Emits preprocessing and the planned nodes. `withIndices`: max pools also output their
 * argmax indices (the backward pass needs them; the plain forward does not).
 */
export function emitForward(builder: OnnxGraphBuilder, model: CnnModel, plan: Plan, image: string, withIndices: boolean): Lowered {
  const { mean, std } = model.preprocessing;
  const centred = builder.op('Sub', [image, perChannel(builder, 'preprocess.mean', mean)], 'preprocess/centred');
  const modelInput = builder.op('Mul', [centred, perChannel(builder, 'preprocess.inv_std', std.map((s) => 1 / s))], 'preprocess/output');
  const lowered: Lowered = { tensors: new Map([[INPUT, modelInput]]), convs: new Map(), poolIndices: new Map(), image, modelInput };
  for (const node of plan.nodes) {
    if (plan.folded.has(node.name)) continue;
    const producer = plan.foldedInto.get(node.name);
    let op: Op = node.op;
    let inputs = node.inputs;
    if (producer && producer.op.kind === 'conv' && node.op.kind === 'batchNorm') {
      op = foldBatchNorm(producer.op, node.op);
      inputs = producer.inputs;
    }
    const tensors = inputs.map((input) => lowered.tensors.get(input)!);
    lowered.tensors.set(node.name, emitNode(builder, node, op, tensors, withIndices, lowered));
  }
  return lowered;
}

/** Static NCHW dims of a node's output for value infos, with the batch dim as given. */
export function dimsOf(shape: Shape, batch: number | string): (number | string)[] {
  return [batch, shape.channels, shape.height, shape.width];
}
