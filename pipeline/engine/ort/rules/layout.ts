/**
 * Ops that move values without changing them: their gradients move dy back. Reshape, Flatten,
 * Squeeze and Unsqueeze all emit a Reshape to the (per-size, static) output shape; the gradient
 * reshapes back. Transpose's gradient is the inverse permutation; a Slice's is dy zero-padded back
 * to the input; a Concat's, dy sliced per input.
 */
import type { OpKind } from '../../../model/graph.js';
import { reshapeTarget, type OrtRule } from './context.js';

/** Any op whose output is its input with another shape. */
const reshaping: OrtRule<OpKind> = {
  forward: (_op, { builder, name, inputs, outShape }) => builder.op('Reshape', [inputs[0], reshapeTarget(builder, `${name}.shape`, outShape)], name),
  backward: (_op, { builder, name, dy, inShapes }) => [builder.op('Reshape', [dy, reshapeTarget(builder, `${name}.input_shape`, inShapes[0])], `${name}/grad_input`)],
};

export const reshape = reshaping as OrtRule<'reshape'>;
export const flatten = reshaping as OrtRule<'flatten'>;
export const squeeze = reshaping as OrtRule<'squeeze'>;
export const unsqueeze = reshaping as OrtRule<'unsqueeze'>;

export const transpose: OrtRule<'transpose'> = {
  forward: (op, { builder, name, inputs }) => builder.op('Transpose', inputs, name, { perm: op.perm }),
  backward(op, { builder, name, dy }) {
    const inverse = new Array<number>(op.perm.length);
    op.perm.forEach((p, i) => (inverse[p] = i));
    return [builder.op('Transpose', [dy], `${name}/grad_input`, { perm: inverse })];
  },
};

export const slice: OrtRule<'slice'> = {
  forward: (op, { builder, name, inputs }) =>
    builder.op('Slice', [inputs[0], builder.int64Tensor(`${name}.start`, [op.start]), builder.int64Tensor(`${name}.end`, [op.end]), builder.int64Tensor(`${name}.axis`, [op.axis])], name),
  backward(op, { builder, name, dy, inShapes }) {
    const rank = inShapes[0].dims.length + 1;
    const pads = new Array<number>(2 * rank).fill(0);
    pads[op.axis] = op.start;
    pads[rank + op.axis] = inShapes[0].dims[op.axis - 1] - op.end;
    return [builder.op('Pad', [dy, builder.int64Tensor(`${name}.pads`, pads)], `${name}/grad_input`, { mode: 'constant' })];
  },
};

export const concat: OrtRule<'concat'> = {
  forward: (op, { builder, name, inputs }) => builder.op('Concat', inputs, name, { axis: op.axis ?? 1 }),
  backward(op, { builder, name, dy, inShapes }) {
    const axis = op.axis ?? 1;
    let offset = 0;
    return inShapes.map((shape, i) => {
      const size = shape.dims[axis - 1];
      const part = builder.op('Slice', [dy, builder.int64Tensor(`${name}.start${i}`, [offset]), builder.int64Tensor(`${name}.end${i}`, [offset + size]), builder.int64Tensor(`${name}.axis${i}`, [axis])], `${name}/grad_input${i}`);
      offset += size;
      return part;
    });
  },
};

/** A constant operand: an initializer of the graph, with nothing to differentiate. */
export const constant: OrtRule<'constant'> = {
  forward: (op, { builder, name }) => builder.floatTensor(name, op.value.data, op.value.shape),
};
