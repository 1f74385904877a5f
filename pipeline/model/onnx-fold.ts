/**
 * Evaluates ONNX nodes whose inputs are all known at import: constants, and the shape arithmetic
 * of exports (Shape -> Gather -> Unsqueeze -> Concat -> Reshape). A Shape of a computed tensor is
 * known once the image size is, with the batch as NaN (it stays symbolic: any arithmetic on it
 * gives NaN, and a Reshape target reads NaN as "the batch"). One rule per op in FOLD_RULES.
 */
import type { Attributes, OnnxConstant } from './onnx-values.js';

/** The batch dimension inside folded shape values. */
export const BATCH = NaN;

export type Const = OnnxConstant;

export interface FoldContext {
  attributes: Attributes;
  /** Known inputs, in order; undefined for an omitted optional input. */
  inputs: (Const | undefined)[];
  /** Full shape of a computed input (batch as BATCH), when the op reads only its shape. */
  shapeOf(index: number): number[] | undefined;
  fail(expected: string, received: string): never;
}

export type FoldRule = (ctx: FoldContext) => Const;

const count = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

export function makeConst(dims: number[], values: ArrayLike<number>, integer: boolean): Const {
  const data = integer ? Float64Array.from(values) : Float32Array.from(values);
  return { dims, values: data, ...(integer ? { integer } : {}) };
}

const strides = (dims: readonly number[]) => {
  const out = new Array<number>(dims.length).fill(1);
  for (let i = dims.length - 2; i >= 0; i--) out[i] = out[i + 1] * dims[i + 1];
  return out;
};

/** Values of a 0-D or 1-D integer constant as a list. */
export function listOf(c: Const): number[] {
  return Array.from(c.values);
}

function required(ctx: FoldContext, index: number): Const {
  const c = ctx.inputs[index];
  if (!c) ctx.fail(`input ${index}`, 'none');
  return c;
}

const normalizeAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

function broadcast(ctx: FoldContext, f: (a: number, b: number) => number, integerResult?: boolean): Const {
  const [a, b] = [required(ctx, 0), required(ctx, 1)];
  const rank = Math.max(a.dims.length, b.dims.length);
  const pad = (d: number[]) => [...new Array(rank - d.length).fill(1), ...d];
  const da = pad(a.dims);
  const db = pad(b.dims);
  const dims = da.map((x, i) => {
    if (x !== db[i] && x !== 1 && db[i] !== 1) ctx.fail('inputs that broadcast', `[${a.dims}] and [${b.dims}]`);
    return Math.max(x, db[i]);
  });
  const sa = strides(da).map((s, i) => (da[i] === 1 ? 0 : s));
  const sb = strides(db).map((s, i) => (db[i] === 1 ? 0 : s));
  const so = strides(dims);
  const out: number[] = [];
  for (let i = 0; i < count(dims); i++) {
    let ia = 0;
    let ib = 0;
    for (let d = 0; d < rank; d++) {
      const k = Math.floor(i / so[d]) % dims[d];
      ia += k * sa[d];
      ib += k * sb[d];
    }
    out.push(f(a.values[ia], b.values[ib]));
  }
  const integer = integerResult ?? Boolean(a.integer && b.integer);
  return makeConst(dims, out, integer);
}

function unary(ctx: FoldContext, f: (x: number) => number): Const {
  const x = required(ctx, 0);
  return makeConst(x.dims, Array.from(x.values, f), Boolean(x.integer));
}

/** Axes from the attribute (older opsets) or the second input (opset 13+). */
function axesOf(ctx: FoldContext, inputIndex: number): number[] | undefined {
  if (ctx.attributes.has('axes')) return ctx.attributes.ints('axes', []);
  const c = ctx.inputs[inputIndex];
  return c ? listOf(c) : undefined;
}

/** Gathers along `axis` with integer indices; shared by Gather and Slice-like reads. */
function take(x: Const, axis: number, indices: number[]): { dims: number[]; values: number[] } {
  const dims = [...x.dims];
  const outer = count(dims.slice(0, axis));
  const size = dims[axis];
  const inner = count(dims.slice(axis + 1));
  const values: number[] = [];
  for (let o = 0; o < outer; o++) for (const i of indices) for (let j = 0; j < inner; j++) values.push(x.values[(o * size + (i < 0 ? i + size : i)) * inner + j]);
  dims[axis] = indices.length;
  return { dims, values };
}

const truncDiv = (a: number, b: number) => Math.trunc(a / b);

export const FOLD_RULES: Record<string, FoldRule> = {
  Constant(ctx) {
    return required(ctx, 0);
  },
  Identity: (ctx) => required(ctx, 0),
  Shape(ctx) {
    const dims = ctx.inputs[0]?.dims ?? ctx.shapeOf(0) ?? ctx.fail('an input of known shape', 'none');
    const rank = dims.length;
    const start = normalizeAxis(ctx.attributes.int('start', 0), rank);
    const end = normalizeAxis(ctx.attributes.int('end', rank), rank);
    const values = dims.slice(Math.max(0, start), Math.min(rank, end));
    return makeConst([values.length], values, true);
  },
  Size(ctx) {
    const dims = ctx.inputs[0]?.dims ?? ctx.shapeOf(0) ?? ctx.fail('an input of known shape', 'none');
    return makeConst([], [count(dims)], true);
  },
  Gather(ctx) {
    const [x, idx] = [required(ctx, 0), required(ctx, 1)];
    const axis = normalizeAxis(ctx.attributes.int('axis', 0), x.dims.length);
    const { dims, values } = take(x, axis, listOf(idx));
    // A scalar index drops the axis; an index tensor of rank k replaces it by k dims.
    dims.splice(axis, 1, ...idx.dims);
    return makeConst(dims, values, Boolean(x.integer));
  },
  Unsqueeze(ctx) {
    const x = required(ctx, 0);
    const axes = axesOf(ctx, 1) ?? ctx.fail('axes', 'none');
    const rank = x.dims.length + axes.length;
    const normalized = axes.map((a) => normalizeAxis(a, rank));
    const dims: number[] = [];
    let from = 0;
    for (let i = 0; i < rank; i++) dims.push(normalized.includes(i) ? 1 : x.dims[from++]);
    return makeConst(dims, x.values, Boolean(x.integer));
  },
  Squeeze(ctx) {
    const x = required(ctx, 0);
    const axes = (axesOf(ctx, 1) ?? x.dims.flatMap((d, i) => (d === 1 ? [i] : []))).map((a) => normalizeAxis(a, x.dims.length));
    return makeConst(x.dims.filter((_, i) => !axes.includes(i)), x.values, Boolean(x.integer));
  },
  Concat(ctx) {
    const parts = ctx.inputs.map((_, i) => required(ctx, i));
    const axis = normalizeAxis(ctx.attributes.int('axis', 0), parts[0].dims.length);
    const dims = [...parts[0].dims];
    dims[axis] = parts.reduce((s, p) => s + p.dims[axis], 0);
    const outer = count(dims.slice(0, axis));
    const values: number[] = [];
    for (let o = 0; o < outer; o++) {
      for (const p of parts) {
        const block = count(p.dims.slice(axis));
        values.push(...Array.from(p.values.subarray(o * block, (o + 1) * block)));
      }
    }
    return makeConst(dims, values, parts.every((p) => p.integer));
  },
  Slice(ctx) {
    const x = required(ctx, 0);
    const starts = ctx.attributes.has('starts') ? ctx.attributes.ints('starts', []) : listOf(required(ctx, 1));
    const ends = ctx.attributes.has('ends') ? ctx.attributes.ints('ends', []) : listOf(required(ctx, 2));
    const axes = (ctx.attributes.has('axes') ? ctx.attributes.ints('axes', []) : ctx.inputs[3] ? listOf(ctx.inputs[3]) : starts.map((_, i) => i)).map((a) => normalizeAxis(a, x.dims.length));
    const steps = ctx.inputs[4] ? listOf(ctx.inputs[4]) : starts.map(() => 1);
    let current = { dims: x.dims, values: Array.from(x.values) };
    axes.forEach((axis, i) => {
      const indices = sliceIndices(current.dims[axis], starts[i], ends[i], steps[i]);
      current = take({ dims: current.dims, values: Float64Array.from(current.values) }, axis, indices);
    });
    return makeConst(current.dims, current.values, Boolean(x.integer));
  },
  Cast(ctx) {
    const x = required(ctx, 0);
    const to = ctx.attributes.int('to', 1);
    const integer = ![1, 10, 11, 16].includes(to); // FLOAT, FLOAT16, DOUBLE, BFLOAT16
    return makeConst(x.dims, integer ? Array.from(x.values, (v) => Math.trunc(v)) : x.values, integer);
  },
  Add: (ctx) => broadcast(ctx, (a, b) => a + b),
  Sub: (ctx) => broadcast(ctx, (a, b) => a - b),
  Mul: (ctx) => broadcast(ctx, (a, b) => a * b),
  Div(ctx) {
    const integer = Boolean(ctx.inputs[0]?.integer && ctx.inputs[1]?.integer);
    return broadcast(ctx, integer ? truncDiv : (a, b) => a / b);
  },
  Pow: (ctx) => broadcast(ctx, (a, b) => a ** b),
  Min: (ctx) => broadcast(ctx, Math.min),
  Max: (ctx) => broadcast(ctx, Math.max),
  Equal: (ctx) => broadcast(ctx, (a, b) => Number(a === b), true),
  Less: (ctx) => broadcast(ctx, (a, b) => Number(a < b), true),
  Greater: (ctx) => broadcast(ctx, (a, b) => Number(a > b), true),
  Neg: (ctx) => unary(ctx, (x) => -x),
  Sqrt: (ctx) => unary(ctx, Math.sqrt),
  Floor: (ctx) => unary(ctx, Math.floor),
  Ceil: (ctx) => unary(ctx, Math.ceil),
  Not: (ctx) => unary(ctx, (x) => Number(!x)),
  Reciprocal: (ctx) => unary(ctx, (x) => 1 / x),
  Reshape(ctx) {
    const x = required(ctx, 0);
    const target = listOf(required(ctx, 1)).map((d, i) => (d === 0 ? x.dims[i] : d));
    const known = count(target.filter((d) => d !== -1));
    return makeConst(target.map((d) => (d === -1 ? count(x.dims) / known : d)), x.values, Boolean(x.integer));
  },
  ConstantOfShape(ctx) {
    const dims = listOf(required(ctx, 0));
    if (dims.some((d) => Number.isNaN(d))) ctx.fail('a shape without the batch dimension', `[${dims.map((d) => (Number.isNaN(d) ? 'N' : d))}]`);
    const value = ctx.attributes.tensor('value');
    const fill = value ? (value.floatData?.[0] ?? 0) : 0;
    return makeConst(dims, new Array(count(dims)).fill(fill), false);
  },
  Range(ctx) {
    const [start, limit, delta] = [0, 1, 2].map((i) => required(ctx, i).values[0]);
    const values: number[] = [];
    for (let v = start; delta > 0 ? v < limit : v > limit; v += delta) values.push(v);
    return makeConst([values.length], values, Boolean(ctx.inputs[0]?.integer));
  },
  Where(ctx) {
    const [c, a, b] = [required(ctx, 0), required(ctx, 1), required(ctx, 2)];
    if (c.dims.join() !== a.dims.join() || a.dims.join() !== b.dims.join()) ctx.fail('inputs of one shape', `[${c.dims}], [${a.dims}], [${b.dims}]`);
    return makeConst(a.dims, Array.from(c.values, (v, i) => (v ? a.values[i] : b.values[i])), Boolean(a.integer && b.integer));
  },
  Expand(ctx) {
    const shape = listOf(required(ctx, 1));
    const ones = makeConst(shape, new Array(count(shape)).fill(0), Boolean(required(ctx, 0).integer));
    return broadcast({ ...ctx, inputs: [ctx.inputs[0], ones] }, (a) => a);
  },
};

/** Indices a Slice keeps along one axis of `size`, with ONNX's clamping of starts, ends and steps. */
export function sliceIndices(size: number, start: number, end: number, step = 1): number[] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const s = start < 0 ? start + size : start;
  const e = end < 0 ? end + size : end;
  const out: number[] = [];
  if (step > 0) for (let i = clamp(s, 0, size); i < clamp(e, 0, size); i += step) out.push(i);
  else for (let i = clamp(s, -1, size - 1); i > clamp(e, -1, size - 1); i += step) out.push(i);
  return out;
}
