/**
 * Shape inference for the model graph: one rule per op (SHAPE_RULES), checked by the compiler to
 * cover every op kind. A rule also validates what it receives (broadcasting, axes, channel counts)
 * and fails with an error naming the node, so a model that cannot run is refused at import.
 *
 * Computed tensors are described without their batch dimension (`dims`, `batched: true`); constant
 * operands with all of theirs (`batched: false`). Axes in ops count over the full shape (ONNX's
 * convention), so axis a of a computed tensor is dims[a - 1].
 */
import { FilterAtlasError, userError } from '../errors.js';
import { INPUT, type Graph, type GraphNode, type Op, type OpKind, type OpOf, type Pads, type Pair } from './graph.js';
import { samePads } from './padding.js';

export interface Shape {
  /** Dimensions after the batch (computed tensors), or every dimension (constants). */
  dims: number[];
  batched: boolean;
  /**
   * Index in `dims` of the image's channel axis when a Transpose moved it (ConvNeXt's channels-last
   * blocks); undefined when it is first or unknown. Feature maps are the NCHW tensors.
   */
  channelAxis?: number;
  /** Feature-map view: dims[0], dims[1] and the product of the rest (1 where missing). channels x height x width = elements. */
  channels: number;
  height: number;
  width: number;
}

export function makeShape(dims: number[], batched = true, channelAxis?: number): Shape {
  const rest = dims.slice(2).reduce((a, b) => a * b, 1);
  return { dims, batched, ...(channelAxis ? { channelAxis } : {}), channels: dims[0] ?? 1, height: dims[1] ?? 1, width: rest };
}

/** Elements of one image's tensor. */
export const elementsOf = (shape: Shape): number => shape.dims.reduce((a, b) => a * b, 1);

/** Rank of the full tensor (batch included for computed tensors). */
export const rankOf = (shape: Shape): number => shape.dims.length + (shape.batched ? 1 : 0);

/** An NCHW map (N, C, H, W) or a vector per image (N, C): what a layer to visualise or probe must be. */
export function isFeatureMap(shape: Shape): boolean {
  return shape.batched && (shape.dims.length === 1 || (shape.dims.length === 3 && (shape.channelAxis ?? 0) === 0));
}

/** Full dims of a shape with the batch as `batch`. */
export const fullDims = (shape: Shape, batch: number): number[] => (shape.batched ? [batch, ...shape.dims] : [...shape.dims]);

interface RuleContext {
  node: GraphNode;
  /** Throws the node's shape error. */
  fail(expected: string, received: string, fix?: string): never;
}

type ShapeRule<K extends OpKind> = (op: OpOf<K>, inputs: Shape[], ctx: RuleContext) => Shape;

// ------------------------------------------------------------------------------------ helpers

function poolOutput(size: number, kernel: number, stride: number, padBefore: number, padAfter: number, ceil: boolean): number {
  const span = size + padBefore + padAfter - kernel;
  let out = (ceil ? Math.ceil(span / stride) : Math.floor(span / stride)) + 1;
  // torch rule: the last window must start inside the image or the left padding.
  if (ceil && (out - 1) * stride >= size + padBefore) out -= 1;
  return out;
}

/** The op's pads at this input size: explicit ones, or 'same' ones computed for it. */
export function padsAt(op: { pads: Pads; autoPad?: 'same-upper' | 'same-lower'; strides: Pair }, kernel: Pair, dilations: Pair, size: Pair): Pads {
  if (!op.autoPad) return op.pads;
  const [top, left, bottom, right] = samePads(size, kernel, op.strides, dilations);
  return op.autoPad === 'same-upper' ? [top, left, bottom, right] : [bottom, right, top, left];
}

function spatialOutput(ctx: RuleContext, input: Shape, kernel: Pair, strides: Pair, pads: Pads, ceil: boolean, dilations: Pair): Pair {
  const [, h, w] = input.dims;
  const effective: Pair = [(kernel[0] - 1) * dilations[0] + 1, (kernel[1] - 1) * dilations[1] + 1];
  const out: Pair = [poolOutput(h, effective[0], strides[0], pads[0], pads[2], ceil), poolOutput(w, effective[1], strides[1], pads[1], pads[3], ceil)];
  if (out[0] < 1 || out[1] < 1) ctx.fail(`an input large enough for a ${effective.join('x')} window`, `${h}x${w}`, 'Use a larger image size, or a layer before this one.');
  return out;
}

function requireMap(ctx: RuleContext, input: Shape): void {
  if (!input.batched || input.dims.length !== 3) ctx.fail('an NCHW input (N, C, H, W)', describeShape(input));
  if ((input.channelAxis ?? 0) !== 0) ctx.fail('an NCHW input (channels on axis 1)', `${describeShape(input)}, channels on axis ${input.channelAxis! + 1}`, 'Transpose the tensor back to NCHW before this op.');
}

export function describeShape(shape: Shape): string {
  return `(${[...(shape.batched ? ['N'] : []), ...shape.dims].join(', ')})`;
}

/** A full-shape axis of a computed tensor, as an index into dims (axis 0, the batch, is refused). */
function dimAxis(ctx: RuleContext, shape: Shape, axis: number, what = 'axis'): number {
  const rank = rankOf(shape);
  if (!Number.isInteger(axis) || axis < 1 || axis >= rank) ctx.fail(`${what} in 1..${rank - 1} of a rank-${rank} tensor (axis 0 is the batch)`, String(axis));
  return axis - 1;
}

/** NumPy broadcasting, with computed tensors sharing the batch at axis 0. */
export function broadcastShapes(ctx: RuleContext, inputs: Shape[]): Shape {
  const batched = inputs.filter((s) => s.batched);
  const rank = Math.max(...inputs.map(rankOf));
  for (const s of batched) {
    if (rankOf(s) !== rank) ctx.fail(`computed inputs of one rank (the batch axes must line up)`, inputs.map(describeShape).join(' and '));
  }
  const dims: number[] = [];
  const offset = batched.length > 0 ? 1 : 0;
  for (let axis = offset; axis < rank; axis++) {
    let size = 1;
    for (const s of inputs) {
      const full = s.batched ? [0, ...s.dims] : s.dims;
      const d = full[axis - (rank - full.length)];
      if (d === undefined || d === 1) continue;
      if (size !== 1 && d !== size) ctx.fail('inputs that broadcast (each dimension equal, or 1)', inputs.map(describeShape).join(' and '));
      size = d;
    }
    dims.push(size);
  }
  if (batched.length > 0) {
    for (const s of inputs.filter((x) => !x.batched && rankOf(x) === rank)) {
      if (s.dims[0] !== 1) ctx.fail('constants that broadcast over the batch (first dimension 1 at full rank)', describeShape(s));
    }
  }
  const channelAxis = batched[0]?.channelAxis;
  return makeShape(dims, batched.length > 0, batched.every((s) => s.channelAxis === channelAxis) ? channelAxis : undefined);
}

/** Element-wise ops of one input: the output is shaped like it. */
const same = (_op: unknown, [x]: Shape[]): Shape => x;

function reduced(op: OpOf<'reduceMean' | 'reduceSum'>, [x]: Shape[], ctx: RuleContext): Shape {
  const axes = new Set(op.axes.map((a) => dimAxis(ctx, x, a)));
  const dims = x.dims.flatMap((d, i) => (axes.has(i) ? (op.keepDims ? [1] : []) : [d]));
  if (op.keepDims || x.channelAxis === undefined) return makeShape(dims, x.batched, op.keepDims ? x.channelAxis : undefined);
  // The channel axis moves left by the axes removed before it (or goes away with them).
  const channel = axes.has(x.channelAxis) ? undefined : x.channelAxis - [...axes].filter((a) => a < x.channelAxis!).length;
  return makeShape(dims, x.batched, channel);
}

/** Resolves a reshape target against the input; the first target entry must come out as the batch. */
export function reshapeDims(op: OpOf<'reshape'>, x: Shape, ctx: RuleContext): number[] {
  const input = [NaN, ...x.dims]; // NaN: the batch
  const target = op.shape.map((d) => (typeof d === 'number' ? d : input[d.input]));
  if (op.shape.some((d) => typeof d !== 'number' && (d.input < 0 || d.input >= input.length))) ctx.fail(`copied dimensions within the input's rank ${input.length}`, `[${op.shape.map(String)}]`);
  const [first, ...rest] = target;
  const shown = `[${target.map((d) => (Number.isNaN(d) ? 'N' : d))}]`;
  if (rest.some((d) => Number.isNaN(d))) ctx.fail('a reshape that keeps the batch first', shown);
  const inferred = rest.filter((d) => d === -1).length;
  if (inferred > 1 || rest.some((d) => !(d === -1 || (Number.isInteger(d) && d >= 1)))) ctx.fail('a target of positive sizes with at most one -1', shown);
  const count = elementsOf(x);
  const known = rest.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
  // The first entry is the batch: copied from the input, inferred (-1) from a complete rest, or the
  // 1 of an export traced with one image.
  const batchFirst = Number.isNaN(first) || (first === -1 && inferred === 0 && known === count) || first === 1;
  if (!batchFirst) ctx.fail('a target whose first dimension is the batch', `${shown} for an input ${describeShape(x)}`);
  const dims = rest.map((d) => (d === -1 ? count / known : d));
  if (dims.some((d) => !Number.isInteger(d)) || dims.reduce((a, b) => a * b, 1) !== count) {
    ctx.fail(`a target with ${count} elements per image, as the input ${describeShape(x)}`, `[N, ${rest.join(', ')}]`, 'The reshape was fixed for another image size when the model was exported; use the model at its own input size or export it with dynamic axes.');
  }
  return dims;
}

// --------------------------------------------------------------------------------- the table

export const SHAPE_RULES: { [K in OpKind]: ShapeRule<K> } = {
  conv(op, [x], ctx) {
    requireMap(ctx, x);
    const [o, perGroup, kh, kw] = op.weight.shape;
    if (perGroup * op.group !== x.dims[0]) ctx.fail(`${perGroup * op.group} input channels (weight [${op.weight.shape}], group ${op.group})`, `${x.dims[0]}`);
    const pads = padsAt(op, [kh, kw], op.dilations, [x.dims[1], x.dims[2]]);
    return makeShape([o, ...spatialOutput(ctx, x, [kh, kw], op.strides, pads, false, op.dilations)]);
  },
  batchNorm(op, [x], ctx) {
    if (!x.batched || x.dims[0] !== op.scale.length) ctx.fail(`${op.scale.length} channels on axis 1`, describeShape(x));
    return x;
  },
  relu: same,
  leakyRelu: same,
  clip: same,
  maxPool(op, [x], ctx) {
    requireMap(ctx, x);
    return makeShape([x.dims[0], ...spatialOutput(ctx, x, op.kernel, op.strides, padsAt(op, op.kernel, [1, 1], [x.dims[1], x.dims[2]]), op.ceil, [1, 1])]);
  },
  avgPool(op, [x], ctx) {
    requireMap(ctx, x);
    return makeShape([x.dims[0], ...spatialOutput(ctx, x, op.kernel, op.strides, padsAt(op, op.kernel, [1, 1], [x.dims[1], x.dims[2]]), op.ceil, [1, 1])]);
  },
  globalAvgPool(_op, [x], ctx) {
    requireMap(ctx, x);
    return makeShape([x.dims[0], 1, 1]);
  },
  pad(op, [x], ctx) {
    requireMap(ctx, x);
    return makeShape([x.dims[0], x.dims[1] + op.pads[0] + op.pads[2], x.dims[2] + op.pads[1] + op.pads[3]]);
  },
  add: (_op, inputs, ctx) => broadcastShapes(ctx, inputs),
  sub: (_op, inputs, ctx) => broadcastShapes(ctx, inputs),
  mul: (_op, inputs, ctx) => broadcastShapes(ctx, inputs),
  div: (_op, inputs, ctx) => broadcastShapes(ctx, inputs),
  pow: same,
  sigmoid: same,
  tanh: same,
  erf: same,
  softplus: same,
  sqrt: same,
  reciprocal: same,
  neg: same,
  hardSigmoid: same,
  hardSwish: same,
  gelu: same,
  reduceMean: reduced,
  reduceSum: reduced,
  transpose(op, [x], ctx) {
    const rank = rankOf(x);
    const sorted = [...op.perm].sort((a, b) => a - b);
    if (op.perm.length !== rank || sorted.some((p, i) => p !== i)) ctx.fail(`a permutation of 0..${rank - 1}`, `[${op.perm}]`);
    if (x.batched && op.perm[0] !== 0) ctx.fail('a permutation that keeps the batch first (perm[0] = 0)', `[${op.perm}]`);
    const dims = op.perm.slice(1).map((p) => x.dims[p - 1]);
    const channel = op.perm.indexOf((x.channelAxis ?? 0) + 1) - 1;
    return makeShape(dims, x.batched, channel > 0 ? channel : undefined);
  },
  reshape: (op, [x], ctx) => makeShape(reshapeDims(op, x, ctx), true, undefined),
  flatten: (_op, [x]) => makeShape([elementsOf(x)]),
  squeeze(op, [x], ctx) {
    const axes = new Set(op.axes.map((a) => dimAxis(ctx, x, a)));
    for (const a of axes) if (x.dims[a] !== 1) ctx.fail(`size 1 on axis ${a + 1}`, describeShape(x));
    return makeShape(x.dims.filter((_, i) => !axes.has(i)));
  },
  unsqueeze(op, [x], ctx) {
    const rank = rankOf(x) + op.axes.length;
    const dims: number[] = [];
    let from = 0;
    for (let axis = 1; axis < rank; axis++) dims.push(op.axes.includes(axis) ? 1 : x.dims[from++]);
    if (op.axes.some((a) => a < 1 || a >= rank) || from !== x.dims.length) ctx.fail(`axes in 1..${rank - 1}`, `[${op.axes}]`);
    return makeShape(dims);
  },
  slice(op, [x], ctx) {
    const a = dimAxis(ctx, x, op.axis);
    if (!(0 <= op.start && op.start < op.end && op.end <= x.dims[a])) ctx.fail(`a non-empty range within 0..${x.dims[a]} on axis ${op.axis}`, `[${op.start}, ${op.end})`);
    const dims = [...x.dims];
    dims[a] = op.end - op.start;
    return makeShape(dims, true, x.channelAxis);
  },
  concat(op, inputs, ctx) {
    const axis = op.axis ?? 1;
    const [first] = inputs;
    const a = dimAxis(ctx, first, axis);
    for (const s of inputs) {
      if (!s.batched || s.dims.length !== first.dims.length || s.dims.some((d, i) => i !== a && d !== first.dims[i])) ctx.fail(`inputs equal except on axis ${axis}`, inputs.map(describeShape).join(', '));
    }
    const dims = [...first.dims];
    dims[a] = inputs.reduce((sum, s) => sum + s.dims[a], 0);
    return makeShape(dims, true, first.channelAxis);
  },
  layerNorm(op, [x], ctx) {
    const a = dimAxis(ctx, x, op.axis);
    const normalized = x.dims.slice(a).reduce((p, d) => p * d, 1);
    for (const [what, values] of [['scale', op.scale], ['bias', op.bias]] as const) {
      if (values && values.length !== normalized) ctx.fail(`a ${what} of ${normalized} values (the normalised dims [${x.dims.slice(a)}])`, `${values.length}`);
    }
    return x;
  },
  dense(op, [x], ctx) {
    const [out, inFeatures] = op.weight.shape;
    const last = x.dims[x.dims.length - 1];
    if (!x.batched || x.dims.length === 0 || last !== inFeatures) ctx.fail(`${inFeatures} features on the last axis`, describeShape(x), 'A layer with a fixed number of inputs only works at the image size the model was made for.');
    return makeShape([...x.dims.slice(0, -1), out], true, x.channelAxis);
  },
  softmax(op, [x], ctx) {
    dimAxis(ctx, x, op.axis ?? 1);
    return x;
  },
  constant: (op) => makeShape([...op.value.shape], false),
  identity: same,
};

function ruleContext(node: GraphNode, size?: Pair): RuleContext {
  return {
    node,
    fail(expected, received, fix) {
      throw userError({ where: `model node ${JSON.stringify(node.name)} (${node.op.kind})${size ? ` at image size ${size[0]}x${size[1]}` : ''}`, expected, received, fix });
    },
  };
}

/** Shape of one node's output from its inputs' shapes. */
export function nodeShape(node: GraphNode, inputs: Shape[], size?: Pair): Shape {
  const rule = SHAPE_RULES[node.op.kind] as ShapeRule<Op['kind']> | undefined;
  // A graph made by hand or by a newer loader may hold a kind this version does not know.
  if (!rule) return ruleContext(node, size).fail(`an op of the model graph (${Object.keys(SHAPE_RULES).join(', ')})`, `op ${JSON.stringify(node.op.kind)}`);
  return rule(node.op, inputs, ruleContext(node, size));
}

export function inputShape(graph: Graph, size: Pair): Shape {
  return makeShape([graph.inputChannels, size[0], size[1]]);
}

/**
 * Shapes of the nodes that can run at this size. A node whose rule fails (or that reads such a
 * node) is left out, with the first cause: at another size than the model's own, the head of a
 * VGG cannot run, but every conv before it can.
 */
export function inferValidShapes(graph: Graph, size: Pair): { shapes: Map<string, Shape>; invalid: Map<string, Error> } {
  const shapes = new Map<string, Shape>([[INPUT, inputShape(graph, size)]]);
  const invalid = new Map<string, Error>(graph.invalid);
  for (const node of graph.nodes) {
    const cause = node.inputs.map((name) => invalid.get(name)).find((e) => e !== undefined);
    if (cause) {
      invalid.set(node.name, cause);
      continue;
    }
    try {
      shapes.set(node.name, nodeShape(node, node.inputs.map((name) => shapes.get(name)!), size));
    } catch (error) {
      if (!(error instanceof FilterAtlasError)) throw error;
      invalid.set(node.name, error);
    }
  }
  return { shapes, invalid };
}

/** Output shape of every node (and INPUT) for one input size; a node that cannot run there is an error. */
export function inferShapes(graph: Graph, size: Pair): Map<string, Shape> {
  const shapes = new Map<string, Shape>([[INPUT, inputShape(graph, size)]]);
  for (const node of graph.nodes) {
    const inputs = node.inputs.map((name) => {
      const shape = shapes.get(name);
      if (!shape) throw new Error(`graph node ${node.name}: input ${name} is not defined before it`);
      return shape;
    });
    shapes.set(node.name, nodeShape(node, inputs, size));
  }
  return shapes;
}
