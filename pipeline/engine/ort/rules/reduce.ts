/**
 * Ops that combine values along axes: reductions, LayerNorm, softmax and the linear layer.
 * Gradients: a reduction's dy is broadcast back over the reduced axes (divided by their size for a
 * mean); LayerNorm's is (g - mean(g) - x^ mean(g x^)) / sigma with g = dy * scale and x^ the
 * normalised input; softmax's y (dy - sum(dy y)); a linear layer's dy W.
 */
import type { OrtRule } from './context.js';

const count = (dims: number[], axes: number[]) => axes.reduce((p, a) => p * dims[a - 1], 1);

function reduction(kind: 'reduceMean' | 'reduceSum'): OrtRule<'reduceMean' | 'reduceSum'> {
  return {
    forward(op, { builder, name, inputs }) {
      const axes = builder.int64Tensor(`${name}.axes`, op.axes);
      // Opset 17: ReduceMean takes axes as an attribute, ReduceSum as an input.
      return kind === 'reduceMean'
        ? builder.op('ReduceMean', inputs, name, { axes: op.axes, keepdims: op.keepDims ? 1 : 0 })
        : builder.op('ReduceSum', [inputs[0], axes], name, { keepdims: op.keepDims ? 1 : 0 });
    },
    backward(op, { builder, name, dy, inShapes }) {
      const input = inShapes[0];
      const kept = input.dims.map((d, i) => (op.axes.includes(i + 1) ? 1 : d));
      const shaped = op.keepDims ? dy : builder.op('Reshape', [dy, builder.int64Tensor(`${name}.kept_dims`, [0, ...kept])], `${name}/grad_kept`);
      const scaled = kind === 'reduceMean' ? builder.op('Mul', [shaped, builder.scalar(`${name}.inv_count`, 1 / count(input.dims, op.axes))], `${name}/grad_scaled`) : shaped;
      return [builder.op('Expand', [scaled, builder.int64Tensor(`${name}.input_dims`, [1, ...input.dims])], `${name}/grad_input`)];
    },
  };
}

export const reduceMean = reduction('reduceMean') as OrtRule<'reduceMean'>;
export const reduceSum = reduction('reduceSum') as OrtRule<'reduceSum'>;

export const layerNorm: OrtRule<'layerNorm'> = {
  forward(op, { builder, name, inputs, inShapes }) {
    const normalized = inShapes[0].dims.slice(op.axis - 1);
    const size = normalized.reduce((p, d) => p * d, 1);
    const scale = builder.floatTensor(`${name}.scale`, op.scale ?? new Float32Array(size).fill(1), normalized);
    const args = [inputs[0], scale, ...(op.bias ? [builder.floatTensor(`${name}.bias`, op.bias, normalized)] : [])];
    return builder.op('LayerNormalization', args, name, { axis: op.axis, epsilon: op.epsilon });
  },
  backward(op, { builder, name, dy, inputs, inShapes }) {
    const rank = inShapes[0].dims.length + 1;
    const axes = Array.from({ length: rank - op.axis }, (_, i) => op.axis + i);
    const normalized = inShapes[0].dims.slice(op.axis - 1);
    const mean = (x: string, hint: string) => builder.op('ReduceMean', [x], `${name}/${hint}`, { axes, keepdims: 1 });
    const x = inputs[0];
    const centred = builder.op('Sub', [x, mean(x, 'mu')], `${name}/centred`);
    const variance = mean(builder.op('Mul', [centred, centred], `${name}/centred2`), 'variance');
    const invSigma = builder.op('Reciprocal', [builder.op('Sqrt', [builder.op('Add', [variance, builder.scalar(`${name}.epsilon`, op.epsilon)], `${name}/var_eps`)], `${name}/sigma`)], `${name}/inv_sigma`);
    const xHat = builder.op('Mul', [centred, invSigma], `${name}/x_hat`);
    const g = op.scale ? builder.op('Mul', [dy, builder.floatTensor(`${name}.grad_scale`, op.scale, normalized)], `${name}/g`) : dy;
    const inner = builder.op('Sub', [builder.op('Sub', [g, mean(g, 'mean_g')], `${name}/g_centred`), builder.op('Mul', [xHat, mean(builder.op('Mul', [g, xHat], `${name}/g_x_hat`), 'mean_g_x_hat')], `${name}/x_hat_term`)], `${name}/inner`);
    return [builder.op('Mul', [inner, invSigma], `${name}/grad_input`)];
  },
};

export const softmax: OrtRule<'softmax'> = {
  forward: (op, { builder, name, inputs }) => builder.op('Softmax', inputs, name, { axis: op.axis ?? 1 }),
  backward(op, { builder, name, dy, output }) {
    const weighted = builder.op('Mul', [dy, output], `${name}/dy_y`);
    const total = builder.op('ReduceSum', [weighted, builder.int64Tensor(`${name}.axis`, [op.axis ?? 1])], `${name}/sum_dy_y`, { keepdims: 1 });
    return [builder.op('Mul', [output, builder.op('Sub', [dy, total], `${name}/dy_minus_sum`)], `${name}/grad_input`)];
  },
};

export const dense: OrtRule<'dense'> = {
  forward(op, { builder, name, inputs, inShapes }) {
    const bias = op.bias && builder.floatTensor(`${name}.bias`, op.bias, [op.bias.length]);
    if (inShapes[0].dims.length === 1) return builder.op('Gemm', [inputs[0], builder.floatTensor(`${name}.weight`, op.weight.data, op.weight.shape), ...(bias ? [bias] : [])], name, { transB: 1 });
    // Any rank: x (..., in) @ W^T (in, out) on the last axis (ConvNeXt's channels-last linear layers).
    const [out, inFeatures] = op.weight.shape;
    const transposed = new Float32Array(out * inFeatures);
    for (let o = 0; o < out; o++) for (let i = 0; i < inFeatures; i++) transposed[i * out + o] = op.weight.data[o * inFeatures + i];
    const product = builder.op('MatMul', [inputs[0], builder.floatTensor(`${name}.weight_t`, transposed, [inFeatures, out])], bias ? `${name}/product` : name);
    return bias ? builder.op('Add', [product, bias], name) : product;
  },
  // (..., out) @ W (out, in) = (..., in)
  backward: (op, { builder, name, dy }) => [builder.op('MatMul', [dy, builder.floatTensor(`${name}.grad_weight`, op.weight.data, op.weight.shape)], `${name}/grad_input`)],
};
