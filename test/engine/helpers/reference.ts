/**
 * A tiny float64 reference interpreter for the model graph: plain NCHW loops, written for
 * clarity, not speed (fine for test graphs and a 67x67 darknet-tiny). It is the oracle
 * for engine forward outputs, and its objective, differentiated by central finite
 * differences in float64, is the oracle for engine gradients.
 */
import { INPUT, type CnnModel, type Op, type Pair } from '../../../pipeline/model/graph.js';
import { graphAtSize } from '../../../pipeline/model/sized.js';

export interface RefTensor {
  data: Float64Array;
  n: number;
  c: number;
  h: number;
  w: number;
}

const at = (t: RefTensor, n: number, c: number, y: number, x: number): number => t.data[((n * t.c + c) * t.h + y) * t.w + x];

function tensor(n: number, c: number, h: number, w: number): RefTensor {
  return { data: new Float64Array(n * c * h * w), n, c, h, w };
}

function map(t: RefTensor, f: (v: number, c: number) => number): RefTensor {
  const out = tensor(t.n, t.c, t.h, t.w);
  const plane = t.h * t.w;
  for (let i = 0; i < t.data.length; i++) out.data[i] = f(t.data[i], Math.floor(i / plane) % t.c);
  return out;
}

function conv(x: RefTensor, op: Extract<Op, { kind: 'conv' }>, out: Pair): RefTensor {
  const [oc, icg, kh, kw] = op.weight.shape;
  const ocg = oc / op.group;
  const [oh, ow] = out;
  const [sh, sw] = op.strides;
  const [dh, dw] = op.dilations;
  const y = tensor(x.n, oc, oh, ow);
  const w = op.weight.data;
  // Loop order: one kernel tap at a time over the whole output plane (valid range
  // precomputed), which keeps the inner loop free of bounds checks.
  const range = (tap: number, pad: number, stride: number, size: number, outSize: number): [number, number] => {
    let lo = 0;
    while (lo < outSize && lo * stride - pad + tap < 0) lo++;
    let hi = outSize;
    while (hi > lo && (hi - 1) * stride - pad + tap >= size) hi--;
    return [lo, hi];
  };
  for (let n = 0; n < x.n; n++)
    for (let o = 0; o < oc; o++) {
      const g = Math.floor(o / ocg);
      const outBase = (n * oc + o) * oh * ow;
      if (op.bias) y.data.fill(op.bias[o], outBase, outBase + oh * ow);
      for (let i = 0; i < icg; i++) {
        const inBase = (n * x.c + g * icg + i) * x.h * x.w;
        for (let a = 0; a < kh; a++) {
          const [y0, y1] = range(a * dh, op.pads[0], sh, x.h, oh);
          for (let b = 0; b < kw; b++) {
            const [x0, x1] = range(b * dw, op.pads[1], sw, x.w, ow);
            const weight = w[((o * icg + i) * kh + a) * kw + b];
            for (let oy = y0; oy < y1; oy++) {
              const row = inBase + (oy * sh - op.pads[0] + a * dh) * x.w - op.pads[1] + b * dw;
              const outRow = outBase + oy * ow;
              for (let ox = x0; ox < x1; ox++) y.data[outRow + ox] += weight * x.data[row + ox * sw];
            }
          }
        }
      }
    }
  return y;
}

/** Max or average pooling; windows clipped to the input (max: -inf padding), torch's divisor rules. */
function pool(x: RefTensor, op: Extract<Op, { kind: 'maxPool' | 'avgPool' }>, out: Pair): RefTensor {
  const y = tensor(x.n, x.c, out[0], out[1]);
  for (let n = 0; n < x.n; n++)
    for (let c = 0; c < x.c; c++)
      for (let oy = 0; oy < out[0]; oy++)
        for (let ox = 0; ox < out[1]; ox++) {
          const y0 = oy * op.strides[0] - op.pads[0];
          const x0 = ox * op.strides[1] - op.pads[1];
          const y1 = Math.min(y0 + op.kernel[0], x.h + op.pads[2]);
          const x1 = Math.min(x0 + op.kernel[1], x.w + op.pads[3]);
          let max = -Infinity;
          let sum = 0;
          let count = 0;
          for (let iy = Math.max(y0, 0); iy < Math.min(y1, x.h); iy++)
            for (let ix = Math.max(x0, 0); ix < Math.min(x1, x.w); ix++) {
              const v = at(x, n, c, iy, ix);
              max = Math.max(max, v);
              sum += v;
              count++;
            }
          const divisor = op.kind === 'avgPool' && op.countIncludePad ? (y1 - y0) * (x1 - x0) : count;
          y.data[((n * x.c + c) * out[0] + oy) * out[1] + ox] = op.kind === 'maxPool' ? max : sum / divisor;
        }
  return y;
}

function evaluate(x: RefTensor[], op: Op, out: Pair): RefTensor {
  const [first] = x;
  switch (op.kind) {
    case 'conv':
      return conv(first, op, out);
    case 'batchNorm':
      return map(first, (v, c) => ((v - op.mean[c]) / Math.sqrt(op.variance[c] + op.epsilon)) * op.scale[c] + op.bias[c]);
    case 'relu':
      return map(first, (v) => Math.max(v, 0));
    case 'leakyRelu':
      return map(first, (v) => (v > 0 ? v : op.alpha * v));
    case 'clip':
      return map(first, (v) => Math.min(Math.max(v, op.min), op.max));
    case 'maxPool':
    case 'avgPool':
      return pool(first, op, out);
    case 'globalAvgPool': {
      const y = tensor(first.n, first.c, 1, 1);
      const plane = first.h * first.w;
      for (let i = 0; i < y.data.length; i++) for (let j = 0; j < plane; j++) y.data[i] += first.data[i * plane + j] / plane;
      return y;
    }
    case 'pad': {
      const [top, left, bottom, right] = op.pads;
      const y = tensor(first.n, first.c, first.h + top + bottom, first.w + left + right);
      for (let n = 0; n < first.n; n++)
        for (let c = 0; c < first.c; c++)
          for (let iy = 0; iy < first.h; iy++)
            for (let ix = 0; ix < first.w; ix++) y.data[((n * y.c + c) * y.h + iy + top) * y.w + ix + left] = at(first, n, c, iy, ix);
      return y;
    }
    case 'add':
      return { ...first, data: first.data.map((_, i) => x.reduce((sum, t) => sum + t.data[i], 0)) };
    case 'concat': {
      const channels = x.reduce((s, t) => s + t.c, 0);
      const y = tensor(first.n, channels, first.h, first.w);
      const plane = first.h * first.w;
      for (let n = 0; n < first.n; n++) {
        let offset = 0;
        for (const t of x) {
          y.data.set(t.data.subarray(n * t.c * plane, (n + 1) * t.c * plane), (n * channels + offset) * plane);
          offset += t.c;
        }
      }
      return y;
    }
    case 'dense': {
      const [outs, ins] = op.weight.shape;
      const y = tensor(first.n, outs, 1, 1);
      for (let n = 0; n < first.n; n++)
        for (let o = 0; o < outs; o++) {
          let sum = op.bias ? op.bias[o] : 0;
          for (let i = 0; i < ins; i++) sum += op.weight.data[o * ins + i] * first.data[n * ins + i];
          y.data[n * outs + o] = sum;
        }
      return y;
    }
    case 'flatten':
      return { ...first, c: first.c * first.h * first.w, h: 1, w: 1 };
    case 'softmax': {
      const y = tensor(first.n, first.c, first.h, first.w);
      const plane = first.h * first.w;
      for (let n = 0; n < first.n; n++)
        for (let p = 0; p < plane; p++) {
          const index = (c: number) => (n * first.c + c) * plane + p;
          let max = -Infinity;
          for (let c = 0; c < first.c; c++) max = Math.max(max, first.data[index(c)]);
          let total = 0;
          for (let c = 0; c < first.c; c++) total += Math.exp(first.data[index(c)] - max);
          for (let c = 0; c < first.c; c++) y.data[index(c)] = Math.exp(first.data[index(c)] - max) / total;
        }
      return y;
    }
    case 'identity':
      return first;
    default:
      // The general tensor ops are checked against PyTorch autograd (test/model/torchvision.test.ts).
      throw new Error(`reference interpreter: op ${op.kind} is not implemented`);
  }
}

/** Outputs of the named nodes (node names, not aliases) for a batch of RGB [0, 1] images (NCHW). */
export function referenceForward(model: CnnModel, images: ArrayLike<number>, n: number, size: Pair, layers: readonly string[]): Map<string, RefTensor> {
  const { graph, shapes } = graphAtSize(model, size);
  const { mean, std } = model.preprocessing;
  const input = map({ data: Float64Array.from(images), n, c: 3, h: size[0], w: size[1] }, (v, c) => (v - mean[c]) / std[c]);
  const values = new Map<string, RefTensor>([[INPUT, input]]);
  const wanted = new Set(layers);
  const result = new Map<string, RefTensor>();
  for (const node of graph.nodes) {
    const shape = shapes.get(node.name)!;
    values.set(node.name, evaluate(node.inputs.map((i) => values.get(i)!), node.op, [shape.height, shape.width]));
    if (wanted.has(node.name)) result.set(node.name, values.get(node.name)!);
    if (result.size === wanted.size) break;
  }
  return result;
}

/** objective[n] = sum_c weights[n, c] * mean over space of layer[n, c], in float64. */
export function referenceObjective(model: CnnModel, images: ArrayLike<number>, n: number, size: Pair, layer: string, weights: ArrayLike<number>): Float64Array {
  const t = referenceForward(model, images, n, size, [layer]).get(layer)!;
  const plane = t.h * t.w;
  const objective = new Float64Array(n);
  for (let b = 0; b < n; b++)
    for (let c = 0; c < t.c; c++) {
      let sum = 0;
      for (let p = 0; p < plane; p++) sum += t.data[(b * t.c + c) * plane + p];
      objective[b] += weights[b * t.c + c] * (sum / plane);
    }
  return objective;
}

/**
 * Central finite difference of the float64 reference objective along `direction`
 * (one image's worth of values per batch entry; returns one derivative per image).
 * eps is tiny because a random direction moves a deep unit's pre-activation by
 * ~eps * 10: with eps 1e-5 some unit of a real model 1e-5 from a ReLU6 kink gets crossed
 * (seen on mobilenet: 0.2 % error); float64 rounding at 1e-7 is still ~1e-9 relative.
 */
export function referenceDirectional(
  model: CnnModel,
  images: ArrayLike<number>,
  n: number,
  size: Pair,
  layer: string,
  weights: ArrayLike<number>,
  direction: ArrayLike<number>,
  eps = 1e-7,
): Float64Array {
  const plus = Float64Array.from(images, (v, i) => v + eps * direction[i]);
  const minus = Float64Array.from(images, (v, i) => v - eps * direction[i]);
  const up = referenceObjective(model, plus, n, size, layer, weights);
  const down = referenceObjective(model, minus, n, size, layer, weights);
  return up.map((u, b) => (u - down[b]) / (2 * eps));
}
