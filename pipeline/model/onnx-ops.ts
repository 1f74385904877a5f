/**
 * One ONNX op -> graph nodes, for the walk in onnx-convert.ts (ops whose inputs are all known were
 * folded before they get here). Each rule reads its inputs and attributes through the walker's helpers
 * (onnx-context.ts) and adds its node, whose shape rule checks it. A new op: its case in convertOp, a
 * rule here if it needs more than one line, its name in SUPPORTED_ONNX_OPS, and its graph op in graph.ts.
 */
import type { Op, Pair } from './graph.js';
import { listOf, sliceIndices, type Const } from './onnx-fold.js';
import { asFloat32, type Attributes } from './onnx-values.js';
import { describeShape, rankOf } from './shapes.js';
import type { ConvertContext, NodeProto } from './onnx-context.js';
import { reshapeTarget, resolvePads } from './onnx-sizes.js';

/** ONNX ops that become graph nodes (ops whose inputs are all known are folded instead). */
export const SUPPORTED_ONNX_OPS = [
  'Conv', 'Gemm', 'MatMul', 'BatchNormalization', 'LayerNormalization', 'Relu', 'LeakyRelu', 'Clip', 'Sigmoid', 'Tanh',
  'HardSigmoid', 'HardSwish', 'Erf', 'Gelu', 'Softplus', 'Pow', 'Sqrt', 'Reciprocal', 'Neg', 'Add', 'Sub', 'Mul', 'Div', 'Sum',
  'MaxPool', 'AveragePool', 'GlobalAveragePool', 'Pad', 'ReduceMean', 'ReduceSum', 'Transpose', 'Reshape', 'Flatten',
  'Squeeze', 'Unsqueeze', 'Split', 'Slice', 'Concat', 'Softmax', 'Dropout', 'Identity', 'Cast', 'Constant',
  // shape arithmetic, folded at import:
  'Shape', 'Size', 'Gather', 'ConstantOfShape', 'Range', 'Equal', 'Less', 'Greater', 'Where', 'Expand', 'Floor', 'Ceil', 'Min', 'Max', 'Not',
];

/** Converts one node that was not folded into graph nodes. */
export function convertOp(ctx: ConvertContext, node: NodeProto, a: Attributes, index: number): void {
  const simple = (op: Op) => void ctx.add(node, op, [ctx.tensor(node)]);
  switch (node.opType) {
    case 'Conv':
      return conv(ctx, node, a);
    case 'Gemm':
      return gemm(ctx, node, a);
    case 'MatMul':
      return matMul(ctx, node);
    case 'BatchNormalization': {
      const input = ctx.tensor(node);
      const v = [1, 2, 3, 4].map((i) => asFloat32(ctx.constant(node, i, ['scale', 'bias', 'mean', 'variance'][i - 1]).values));
      return void ctx.add(node, { kind: 'batchNorm', scale: v[0], bias: v[1], mean: v[2], variance: v[3], epsilon: a.float('epsilon', 1e-5) }, [input]);
    }
    case 'LayerNormalization':
      return layerNorm(ctx, node, a);
    case 'Relu':
      return simple({ kind: 'relu' });
    case 'LeakyRelu':
      return simple({ kind: 'leakyRelu', alpha: a.float('alpha', 0.01) });
    case 'Clip':
      return clip(ctx, node, a);
    case 'Sigmoid':
    case 'Tanh':
    case 'Erf':
    case 'Softplus':
    case 'Sqrt':
    case 'Reciprocal':
    case 'Neg':
    case 'HardSwish':
      return simple({ kind: (node.opType[0].toLowerCase() + node.opType.slice(1)) as 'sigmoid' });
    case 'HardSigmoid':
      return simple({ kind: 'hardSigmoid', alpha: a.float('alpha', 0.2), beta: a.float('beta', 0.5) });
    case 'Gelu':
      return simple({ kind: 'gelu', approximate: a.string('approximate', 'none') === 'tanh' ? 'tanh' : 'none' });
    case 'Pow': {
      const exponent = ctx.constant(node, 1, 'the exponent');
      if (exponent.values.length !== 1) throw ctx.error(node, 'a scalar exponent', `dims [${exponent.dims}]`);
      return simple({ kind: 'pow', exponent: exponent.values[0] });
    }
    case 'Add':
    case 'Sum':
      return arithmetic(ctx, node, 'add');
    case 'Sub':
    case 'Mul':
    case 'Div':
      return arithmetic(ctx, node, node.opType.toLowerCase() as 'sub' | 'mul' | 'div');
    case 'MaxPool':
      return pool(ctx, node, a, 'maxPool');
    case 'AveragePool':
      return pool(ctx, node, a, 'avgPool');
    case 'GlobalAveragePool':
      return simple({ kind: 'globalAvgPool' });
    case 'Pad':
      return pad(ctx, node, a);
    case 'ReduceMean':
      return reduce(ctx, node, a, 'reduceMean');
    case 'ReduceSum':
      return reduce(ctx, node, a, 'reduceSum');
    case 'Transpose': {
      const rank = rankOf(ctx.shapeOfNode(ctx.tensor(node)));
      return simple({ kind: 'transpose', perm: a.ints('perm', Array.from({ length: rank }, (_, i) => rank - 1 - i)) });
    }
    case 'Reshape':
      return reshape(ctx, node, index);
    case 'Flatten':
      return flatten(ctx, node, a);
    case 'Squeeze':
      return squeezeLike(ctx, node, a, 'squeeze');
    case 'Unsqueeze':
      return squeezeLike(ctx, node, a, 'unsqueeze');
    case 'Split':
      return split(ctx, node, a);
    case 'Slice':
      return slice(ctx, node);
    case 'Concat': {
      const inputs = (node.input ?? []).map((_, i) => ctx.tensor(node, i));
      return void ctx.add(node, { kind: 'concat', axis: ctx.axis(node, a.int('axis', 1), rankOf(ctx.shapeOfNode(inputs[0]))) }, inputs);
    }
    case 'Softmax':
      return softmax(ctx, node, a);
    case 'Cast': {
      if ([1, 10, 11, 16].includes(a.int('to', 1))) return ctx.alias(node, 0); // float to float: nothing to do in float32
      throw ctx.error(node, 'a cast to a float type', `a cast of a computed tensor to type ${a.int('to', 1)}`);
    }
    case 'Dropout':
    case 'Identity':
      return ctx.alias(node, 0);
    default:
      throw ctx.error(node, `a supported op (${SUPPORTED_ONNX_OPS.join(', ')})`, `unsupported op ${node.opType}`, 'Export the model with supported ops, or ask for the op to be supported.');
  }
}

function conv(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const input = ctx.tensor(node);
  const w = ctx.constant(node, 1, 'the weight');
  if (w.dims.length !== 4) throw ctx.error(node, 'a 2-D convolution (4-D weight)', `weight dims [${w.dims}]`);
  const b = ctx.optionalConstant(node, 2, 'the bias');
  const dilations = a.ints('dilations', [1, 1]) as Pair;
  const { pads, autoPad } = resolvePads(ctx, node, a, ctx.shapeOfNode(input), [w.dims[2], w.dims[3]], dilations);
  const op: Op = {
    kind: 'conv',
    weight: { shape: w.dims, data: asFloat32(w.values) },
    ...(b ? { bias: asFloat32(b.values) } : {}),
    strides: a.ints('strides', [1, 1]) as Pair,
    pads,
    dilations,
    group: a.int('group', 1),
    ...(autoPad ? { autoPad } : {}),
  };
  ctx.add(node, op, [input]);
}

function pool(ctx: ConvertContext, node: NodeProto, a: Attributes, kind: 'maxPool' | 'avgPool'): void {
  const input = ctx.tensor(node);
  const kernel = a.ints('kernel_shape', []) as Pair;
  if (kernel.length !== 2) throw ctx.error(node, '2-D kernel_shape', `[${kernel}]`);
  if (a.ints('dilations', [1, 1]).some((d) => d !== 1)) throw ctx.error(node, 'dilations 1', `[${a.ints('dilations', [])}]`);
  const strides = a.ints('strides', [1, 1]) as Pair;
  const { pads, autoPad } = resolvePads(ctx, node, a, ctx.shapeOfNode(input), kernel, [1, 1]);
  const ceil = a.int('ceil_mode', 0) === 1;
  const common = { kernel, strides, pads, ceil, ...(autoPad ? { autoPad } : {}) };
  ctx.add(node, kind === 'maxPool' ? { kind, ...common } : { kind, ...common, countIncludePad: a.int('count_include_pad', 0) === 1 }, [input]);
}

/** Weight [in, out] (MatMul, Gemm without transB) as the graph's [out, in], transposed once per initializer. */
function transposed(ctx: ConvertContext, name: string, w: Const, scale = 1): Float32Array {
  const key = `${name}|${scale}`;
  let data = ctx.options.derived.get(key);
  if (!data) {
    const [rows, cols] = w.dims;
    data = new Float32Array(rows * cols);
    for (let o = 0; o < cols; o++) for (let i = 0; i < rows; i++) data[o * rows + i] = scale * w.values[i * cols + o];
    ctx.options.derived.set(key, data);
  }
  return data;
}

function gemm(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const input = ctx.tensor(node);
  const shape = ctx.shapeOfNode(input);
  if (shape.dims.length !== 1) throw ctx.error(node, 'a flattened (N, features) input', describeShape(shape), 'Add a Flatten before the fully connected layer.');
  if (a.int('transA', 0) !== 0) throw ctx.error(node, 'transA = 0', '1');
  const b = ctx.constant(node, 1, 'the weight');
  if (b.dims.length !== 2) throw ctx.error(node, 'a 2-D weight', `dims [${b.dims}]`);
  const transB = a.int('transB', 0) === 1;
  const alpha = a.float('alpha', 1);
  const beta = a.float('beta', 1);
  const out = transB ? b.dims[0] : b.dims[1];
  const inDim = transB ? b.dims[1] : b.dims[0];
  const data = transB && alpha === 1 ? asFloat32(b.values) : transB ? Float32Array.from(b.values, (v) => alpha * v) : transposed(ctx, node.input![1], b, alpha);
  const c = ctx.optionalConstant(node, 2, 'the bias');
  if (c && c.values.length !== out && c.values.length !== 1) throw ctx.error(node, `a bias of ${out} values`, `dims [${c.dims}]`);
  const bias = c ? Float32Array.from({ length: out }, (_, o) => beta * c.values[c.values.length === 1 ? 0 : o]) : undefined;
  ctx.add(node, { kind: 'dense', weight: { shape: [out, inDim], data }, ...(bias ? { bias } : {}) }, [input]);
}

function matMul(ctx: ConvertContext, node: NodeProto): void {
  const input = ctx.tensor(node);
  const w = ctx.constant(node, 1, 'the weight (a MatMul of a tensor by a constant matrix)');
  if (w.dims.length !== 2) throw ctx.error(node, 'a 2-D weight [in, out]', `dims [${w.dims}]`);
  ctx.add(node, { kind: 'dense', weight: { shape: [w.dims[1], w.dims[0]], data: transposed(ctx, node.input![1], w) } }, [input]);
}

/** Add, Sub, Mul, Div (and Sum): element-wise with broadcasting; a MatMul's bias folds into it. */
function arithmetic(ctx: ConvertContext, node: NodeProto, kind: 'add' | 'sub' | 'mul' | 'div'): void {
  const inputs = (node.input ?? []).map((_, i) => ctx.value(node, i));
  if (kind === 'add' && inputs.length === 2) {
    const constantIndex = inputs.findIndex((v) => v?.kind === 'const');
    const other = inputs[1 - constantIndex];
    if (constantIndex >= 0 && other?.kind === 'tensor') {
      const dense = ctx.nodes.find((n) => n.name === other.node);
      const bias = (inputs[constantIndex] as { value: Const }).value;
      const sole = ctx.pendingReaders.get(node.input![1 - constantIndex])?.length === 1;
      if (dense?.op.kind === 'dense' && !dense.op.bias && bias.dims.length === 1 && bias.values.length === dense.op.weight.shape[0] && sole) {
        dense.op.bias = asFloat32(bias.values);
        ctx.values.set(node.output?.[0] ?? '', { kind: 'tensor', node: dense.name });
        return;
      }
    }
  }
  ctx.add(node, { kind }, inputs.map((_, i) => ctx.operand(node, i)));
}

function reduce(ctx: ConvertContext, node: NodeProto, a: Attributes, kind: 'reduceMean' | 'reduceSum'): void {
  const input = ctx.tensor(node);
  const rank = rankOf(ctx.shapeOfNode(input));
  const fromInput = node.input?.[1] ? listOf(ctx.constant(node, 1, 'the axes')) : undefined;
  let axes = a.has('axes') ? a.ints('axes', []) : (fromInput ?? []);
  if (axes.length === 0) {
    if (a.int('noop_with_empty_axes', 0) === 1) return ctx.alias(node, 0);
    axes = Array.from({ length: rank }, (_, i) => i);
  }
  const normalized = [...new Set(axes.map((x) => ctx.axis(node, x, rank)))].sort((x, y) => x - y);
  if (normalized.includes(0)) throw ctx.error(node, 'a reduction over axes after the batch', `axes [${axes}]`);
  ctx.add(node, { kind, axes: normalized, keepDims: a.int('keepdims', 1) === 1 }, [input]);
}

function squeezeLike(ctx: ConvertContext, node: NodeProto, a: Attributes, kind: 'squeeze' | 'unsqueeze'): void {
  const input = ctx.tensor(node);
  const shape = ctx.shapeOfNode(input);
  const axes = a.has('axes') ? a.ints('axes', []) : node.input?.[1] ? listOf(ctx.constant(node, 1, 'the axes')) : undefined;
  const rank = rankOf(shape) + (kind === 'unsqueeze' ? (axes?.length ?? 0) : 0);
  const resolved = axes ? axes.map((x) => ctx.axis(node, x, rank)) : shape.dims.flatMap((d, i) => (d === 1 ? [i + 1] : []));
  if (resolved.includes(0)) throw ctx.error(node, `axes after the batch`, `[${axes}]`);
  ctx.add(node, { kind, axes: [...new Set(resolved)].sort((x, y) => x - y) }, [input]);
}

/** One graph slice per output of a Split, named after the node and the output index. */
function split(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const input = ctx.tensor(node);
  const shape = ctx.shapeOfNode(input);
  const axis = ctx.axis(node, a.int('axis', 0), rankOf(shape));
  if (axis === 0) throw ctx.error(node, 'a split along an axis after the batch', 'axis 0');
  const outputs = node.output ?? [];
  const size = shape.dims[axis - 1];
  const given = a.has('split') ? a.ints('split', []) : node.input?.[1] ? listOf(ctx.constant(node, 1, 'the split sizes')) : undefined;
  const parts = given ?? Array.from({ length: outputs.length }, (_, i) => Math.ceil(size / outputs.length) - (i === outputs.length - 1 ? Math.ceil(size / outputs.length) * outputs.length - size : 0));
  if (parts.length !== outputs.length || parts.reduce((x, y) => x + y, 0) !== size) throw ctx.error(node, `sizes adding up to ${size}, one per output`, `[${parts}]`);
  let start = 0;
  parts.forEach((part, i) => {
    const name = ctx.unique(`${node.name || outputs[0]}:${i}`);
    ctx.pushNode({ name, op: { kind: 'slice', axis, start, end: start + part }, inputs: [input] });
    ctx.values.set(outputs[i], { kind: 'tensor', node: name });
    start += part;
  });
}

/** Slice with known bounds: one graph slice per sliced axis (step 1), clamped at this size. */
function slice(ctx: ConvertContext, node: NodeProto): void {
  let current = ctx.tensor(node);
  const rank = rankOf(ctx.shapeOfNode(current));
  const starts = listOf(ctx.constant(node, 1, 'the starts'));
  const ends = listOf(ctx.constant(node, 2, 'the ends'));
  const axes = node.input?.[3] ? listOf(ctx.constant(node, 3, 'the axes')) : starts.map((_, i) => i);
  const steps = node.input?.[4] ? listOf(ctx.constant(node, 4, 'the steps')) : starts.map(() => 1);
  const cuts = axes.map((axis, i) => ({ axis: ctx.axis(node, axis, rank), start: starts[i], end: ends[i], step: steps[i] }));
  const dimOf = (axis: number) => ctx.shapeOfNode(current).dims[axis - 1];
  // Slices that keep a whole axis (exports write [0, INT64_MAX) for ':') are no-ops, the batch axis included.
  const whole = (cut: (typeof cuts)[number]) => cut.step === 1 && cut.start === 0 && (cut.axis === 0 ? cut.end >= 2 ** 31 - 1 : cut.end >= dimOf(cut.axis));
  const kept = cuts.filter((cut) => !whole(cut));
  if (kept.length === 0) return ctx.alias(node, 0);
  kept.forEach((cut, i) => {
    if (cut.axis === 0) throw ctx.error(node, 'a slice along an axis after the batch', `axis 0 [${cut.start}, ${cut.end})`);
    if (cut.step !== 1) throw ctx.error(node, 'slices with step 1', `step ${cut.step} on axis ${cut.axis}`);
    const size = dimOf(cut.axis);
    const indices = sliceIndices(size, cut.start, cut.end, 1);
    if (indices.length === 0) throw ctx.error(node, 'a non-empty slice', `[${cut.start}, ${cut.end}) of ${size} on axis ${cut.axis}`);
    const op: Op = { kind: 'slice', axis: cut.axis, start: indices[0], end: indices[indices.length - 1] + 1 };
    if (i === kept.length - 1) current = ctx.add(node, op, [current]);
    else {
      const name = ctx.unique(`${node.name}:axis${cut.axis}`);
      ctx.pushNode({ name, op, inputs: [current] });
      current = name;
    }
  });
}

function reshape(ctx: ConvertContext, node: NodeProto, index: number): void {
  const input = ctx.tensor(node);
  const value = ctx.value(node, 1);
  if (value?.kind !== 'const') throw ctx.error(node, 'a target shape known at import (a constant or shape arithmetic)', 'a tensor computed from the image');
  ctx.add(node, { kind: 'reshape', shape: reshapeTarget(ctx, index, ctx.shapeOfNode(input), value) }, [input]);
}

function flatten(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const input = ctx.tensor(node);
  const shape = ctx.shapeOfNode(input);
  const axis = ctx.axis(node, a.int('axis', 1), rankOf(shape) + 1);
  // Flatten makes 2-D [prod(dims before axis), prod(rest)]: only per image when nothing but the batch comes before.
  if (axis === 0 || shape.dims.slice(0, axis - 1).some((d) => d !== 1)) throw ctx.error(node, 'a Flatten that keeps the batch first (axis 1)', `axis ${a.int('axis', 1)} of ${describeShape(shape)}`);
  ctx.add(node, { kind: 'flatten' }, [input]);
}

function layerNorm(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const input = ctx.tensor(node);
  const axis = ctx.axis(node, a.int('axis', -1), rankOf(ctx.shapeOfNode(input)));
  if (axis === 0) throw ctx.error(node, 'normalisation over axes after the batch', 'axis 0');
  const scale = ctx.optionalConstant(node, 1, 'the scale');
  const bias = ctx.optionalConstant(node, 2, 'the bias');
  ctx.add(node, { kind: 'layerNorm', axis, epsilon: a.float('epsilon', 1e-5), ...(scale ? { scale: asFloat32(scale.values) } : {}), ...(bias ? { bias: asFloat32(bias.values) } : {}) }, [input]);
}

function softmax(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const input = ctx.tensor(node);
  const shape = ctx.shapeOfNode(input);
  const rank = rankOf(shape);
  const axis = ctx.axis(node, a.int('axis', ctx.options.opset >= 13 ? -1 : 1), rank);
  // Before opset 13 Softmax flattened everything from `axis` on: the same only over the last axis.
  if (ctx.options.opset < 13 && shape.dims.slice(axis).some((d) => d !== 1)) throw ctx.error(node, 'softmax over one axis', `a flattened softmax from axis ${axis} of ${describeShape(shape)}`);
  ctx.add(node, { kind: 'softmax', axis }, [input]);
}

function clip(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const scalar = (index: number, fallback: number) => ctx.optionalConstant(node, index, 'the bound')?.values[0] ?? fallback;
  const min = a.has('min') ? a.float('min', -Infinity) : scalar(1, -Infinity);
  const max = a.has('max') ? a.float('max', Infinity) : scalar(2, Infinity);
  ctx.add(node, min === 0 && max === Infinity ? { kind: 'relu' } : { kind: 'clip', min, max }, [ctx.tensor(node)]);
}

function pad(ctx: ConvertContext, node: NodeProto, a: Attributes): void {
  const mode = a.string('mode', 'constant');
  const p = a.has('pads') ? a.ints('pads', []) : listOf(ctx.constant(node, 1, 'pads'));
  const value = a.has('value') ? a.float('value', 0) : (ctx.optionalConstant(node, 2, 'the pad value')?.values[0] ?? 0);
  if (mode !== 'constant' || value !== 0) throw ctx.error(node, 'constant padding with 0', `mode ${mode}, value ${value}`);
  if (p.length !== 8 || p[0] || p[1] || p[4] || p[5] || p.some((x) => x < 0)) throw ctx.error(node, 'non-negative pads of the spatial dims only (8 values, N and C zero)', `[${p}]`);
  ctx.add(node, { kind: 'pad', pads: [p[2], p[3], p[6], p[7]] }, [ctx.tensor(node)]);
}
