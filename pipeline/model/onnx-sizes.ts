/**
 * What depends on the image size in an ONNX conversion: 'same' padding (recomputed per size) and
 * Reshape targets that torch.onnx.export baked in at the export size (generalised once there, so that
 * the same graph holds at the ascent's other sizes). docs/design.md section 4.
 */
import type { Pads, Pair, ReshapeDim } from './graph.js';
import { listOf, type Const } from './onnx-fold.js';
import type { Attributes } from './onnx-values.js';
import { padsAt, rankOf, type Shape } from './shapes.js';
import type { ConvertContext, NodeProto } from './onnx-context.js';

/** Explicit pads, or 'same' ones (kept as autoPad, recomputed per size; `pads` are this size's). */
export function resolvePads(ctx: ConvertContext, node: NodeProto, a: Attributes, input: Shape, kernel: Pair, dilations: Pair): { pads: Pads; autoPad?: 'same-upper' | 'same-lower' } {
  const auto = a.string('auto_pad', 'NOTSET');
  if (auto === 'VALID') return { pads: [0, 0, 0, 0] };
  if (auto === 'SAME_UPPER' || auto === 'SAME_LOWER') {
    const autoPad = auto === 'SAME_UPPER' ? 'same-upper' : 'same-lower';
    const strides = a.ints('strides', [1, 1]) as Pair;
    return { pads: padsAt({ pads: [0, 0, 0, 0], autoPad, strides }, kernel, dilations, [input.dims[1], input.dims[2]]), autoPad };
  }
  const p = a.ints('pads', [0, 0, 0, 0]);
  if (p.length !== 4 || rankOf(input) !== 4) throw ctx.error(node, '2-D pads [top, left, bottom, right] on an NCHW input', `[${p}]`);
  return { pads: [p[0], p[1], p[2], p[3]] };
}

/**
 * A Reshape target as graph ReshapeDims. Computed at this size from shape arithmetic: NaN is the
 * batch, 0 copies an input dim. Literal (baked in by the export): generalised at the export size
 * by matching its leading and trailing dims against the input's there, so that a channel shuffle
 * [1, 48, 28, 28] -> [1, 2, 24, 28, 28] becomes [N, 2, 24, H, W], and one remaining middle dim
 * becomes -1 ([1, 48, 784] from [1, 48, 28, 28] -> [N, C, -1]).
 */
export function reshapeTarget(ctx: ConvertContext, index: number, input: Shape, value: { value: Const; literal: boolean }): ReshapeDim[] {
  const raw = listOf(value.value).map((d, i): ReshapeDim => (Number.isNaN(d) ? { input: 0 } : d === 0 ? { input: i } : d));
  if (!value.literal) return raw;
  const recorded = ctx.options.reshapeTargets.get(index);
  if (recorded && !ctx.options.record) return recorded;
  const from = [1, ...input.dims];
  const target = raw.map((d) => (typeof d === 'number' ? d : from[d.input])) as number[];
  const out: ReshapeDim[] = [...raw];
  out[0] = { input: 0 };
  let prefix = 1;
  while (prefix < target.length && prefix < from.length && target[prefix] === from[prefix]) out[prefix] = { input: prefix++ };
  let suffix = 0;
  while (suffix < target.length - prefix && suffix < from.length - prefix && target[target.length - 1 - suffix] === from[from.length - 1 - suffix]) {
    out[target.length - 1 - suffix] = { input: from.length - 1 - suffix };
    suffix++;
  }
  const middle = target.length - prefix - suffix;
  if (middle === 1 && !target.includes(-1)) out[prefix] = -1;
  if (ctx.options.record) ctx.options.reshapeTargets.set(index, out);
  return out;
}
