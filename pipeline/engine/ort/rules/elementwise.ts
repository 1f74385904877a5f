/**
 * Element-wise ops. Activations: dx = dy * f'(x) (or from the output y where that is cheaper:
 * sigmoid y(1-y), tanh 1-y^2, sqrt 1/2y, reciprocal -y^2). Binary ops with broadcasting: each
 * input's gradient is summed back to its shape (sumToShape).
 */
import type { OpKind, OpOf } from '../../../model/graph.js';
import { batchNormAffine } from '../plan.js';
import { perChannel, sumToShape, type GradContext, type OrtRule } from './context.js';

const SQRT_2_PI = Math.sqrt(2 / Math.PI);
const GELU_CUBIC = 0.044715;

/** One-input op: `forward` emits it, `derivative` returns f' as a tensor (times dy by the rule). */
function unary<K extends OpKind>(forward: OrtRule<K>['forward'], derivative: (op: OpOf<K>, ctx: GradContext, x: string, y: string) => string): OrtRule<K> {
  return {
    forward,
    backward: (op, ctx) => [ctx.builder.op('Mul', [ctx.dy, derivative(op, ctx, ctx.inputs[0], ctx.output)], `${ctx.name}/grad_input`)],
  };
}

/** A forward that is one ONNX op of the same input. */
const onnxOp =
  <K extends OpKind>(type: string, attributes?: (op: OpOf<K>) => Record<string, number>): OrtRule<K>['forward'] =>
  (op, { builder, name, inputs }) =>
    builder.op(type, inputs, name, attributes?.(op));

/** dx = dy where the mask holds, else 0 (or alpha * dy for LeakyReLU). */
function masked(op: OpOf<'relu' | 'leakyRelu' | 'clip'>, { builder, name, dy, inputs }: GradContext): string {
  const x = inputs[0];
  const zero = builder.scalar(`${name}.zero`, 0);
  if (op.kind === 'clip') {
    const above = builder.op('Greater', [x, builder.scalar(`${name}.min`, op.min)], `${name}/above_min`);
    const below = builder.op('Less', [x, builder.scalar(`${name}.max`, op.max)], `${name}/below_max`);
    const inside = builder.op('And', [above, below], `${name}/inside`);
    return builder.op('Where', [inside, dy, zero], `${name}/grad_input`);
  }
  const positive = builder.op('Greater', [x, zero], `${name}/positive`);
  const otherwise = op.kind === 'relu' ? zero : builder.op('Mul', [dy, builder.scalar(`${name}.alpha`, op.alpha)], `${name}/grad_negative`);
  return builder.op('Where', [positive, dy, otherwise], `${name}/grad_input`);
}

export const relu: OrtRule<'relu'> = { forward: onnxOp('Relu'), backward: (op, ctx) => [masked(op, ctx)] };
/** The largest float32: y * FLT_MAX is at least 1 for every y >= 2.9e-39 (all normal floats, most subnormals). */
const FLT_MAX = 3.4028234663852886e38;

/**
 * dx = dy * slope, slope = Clip(y * FLT_MAX, alpha, 1): 1 where y > 0, alpha elsewhere (y = 0 and
 * -0 included, as in `masked`), so every value equals masked's bit for bit (dy * 1 is dy). A
 * positive y overflows to inf or lands at or above 1, which Clip cuts to 1; only a subnormal y
 * below 2.9e-39 would get a slope between alpha and 1. Two vectorised element-wise ops (Sign, the
 * form before, is a scalar loop in ONNX Runtime: 7 % of darknet-tiny's gradient step at 227 px),
 * and reading the output y, not the conv's output x, lets ONNX Runtime fuse the LeakyRelu into its
 * Conv. y > 0 exactly where x > 0 only for 0 < alpha; alpha <= 1 keeps the Clip's bounds ordered.
 */
function leakyReluBackward(op: OpOf<'leakyRelu'>, ctx: GradContext): string {
  if (!(op.alpha > 0 && op.alpha <= 1)) return masked(op, ctx);
  // The same values with ops every GPU provider has: for 0 < alpha, y > 0 exactly where x > 0, so the mask reads y.
  if (ctx.leakyReluSlope === 'mask') return masked(op, { ...ctx, inputs: [ctx.output] });
  const { builder, name, dy, output } = ctx;
  const scaled = builder.op('Mul', [output, builder.scalar(`${name}.flt_max`, FLT_MAX)], `${name}/scaled`);
  const slope = builder.op('Clip', [scaled, builder.scalar(`${name}.alpha`, op.alpha), builder.scalar(`${name}.one`, 1)], `${name}/slope`);
  return builder.op('Mul', [dy, slope], `${name}/grad_input`);
}

export const leakyRelu: OrtRule<'leakyRelu'> = { forward: onnxOp('LeakyRelu', (op) => ({ alpha: op.alpha })), backward: (op, ctx) => [leakyReluBackward(op, ctx)] };
export const clip: OrtRule<'clip'> = {
  forward: (op, { builder, name, inputs }) => builder.op('Clip', [inputs[0], builder.scalar(`${name}.min`, op.min), builder.scalar(`${name}.max`, op.max)], name),
  backward: (op, ctx) => [masked(op, ctx)],
};

export const batchNorm: OrtRule<'batchNorm'> = {
  forward(op, { builder, name, inputs, outShape }) {
    const { scale, shift } = batchNormAffine(op);
    const rank = outShape.dims.length + 1;
    const scaled = builder.op('Mul', [inputs[0], perChannel(builder, `${name}.scale`, scale, rank)], `${name}/scaled`);
    return builder.op('Add', [scaled, perChannel(builder, `${name}.shift`, shift, rank)], name);
  },
  backward: (op, { builder, name, dy, outShape }) => [builder.op('Mul', [dy, perChannel(builder, `${name}.grad_scale`, batchNormAffine(op).scale, outShape.dims.length + 1)], `${name}/grad_input`)],
};

export const sigmoid = unary<'sigmoid'>(onnxOp('Sigmoid'), (_op, { builder, name }, _x, y) =>
  builder.op('Mul', [y, builder.op('Sub', [builder.scalar(`${name}.one`, 1), y], `${name}/one_minus_y`)], `${name}/derivative`),
);

export const tanh = unary<'tanh'>(onnxOp('Tanh'), (_op, { builder, name }, _x, y) =>
  builder.op('Sub', [builder.scalar(`${name}.one`, 1), builder.op('Mul', [y, y], `${name}/y2`)], `${name}/derivative`),
);

/** d erf(x) / dx = 2 / sqrt(pi) * exp(-x^2) */
function erfDerivative(builder: GradContext['builder'], name: string, x: string): string {
  const minusSquare = builder.op('Neg', [builder.op('Mul', [x, x], `${name}/x2`)], `${name}/minus_x2`);
  return builder.op('Mul', [builder.op('Exp', [minusSquare], `${name}/exp`), builder.scalar(`${name}.two_over_sqrt_pi`, 2 / Math.sqrt(Math.PI))], `${name}/derivative`);
}

export const erf = unary<'erf'>(onnxOp('Erf'), (_op, { builder, name }, x) => erfDerivative(builder, name, x));

export const softplus = unary<'softplus'>(onnxOp('Softplus'), (_op, { builder, name }, x) => builder.op('Sigmoid', [x], `${name}/derivative`));

export const sqrt = unary<'sqrt'>(onnxOp('Sqrt'), (_op, { builder, name }, _x, y) => builder.op('Div', [builder.scalar(`${name}.half`, 0.5), y], `${name}/derivative`));

export const reciprocal = unary<'reciprocal'>(onnxOp('Reciprocal'), (_op, { builder, name }, _x, y) =>
  builder.op('Neg', [builder.op('Mul', [y, y], `${name}/y2`)], `${name}/derivative`),
);

export const neg: OrtRule<'neg'> = { forward: onnxOp('Neg'), backward: (_op, { builder, name, dy }) => [builder.op('Neg', [dy], `${name}/grad_input`)] };

export const pow = unary<'pow'>(
  (op, { builder, name, inputs }) => builder.op('Pow', [inputs[0], builder.scalar(`${name}.exponent`, op.exponent)], name),
  // p * x^(p-1)
  (op, { builder, name }, x) => builder.op('Mul', [builder.op('Pow', [x, builder.scalar(`${name}.exponent_minus_one`, op.exponent - 1)], `${name}/x_pow`), builder.scalar(`${name}.p`, op.exponent)], `${name}/derivative`),
);

/** alpha where 0 < alpha x + beta < 1, else 0 (PyTorch's hardsigmoid gradient, strict at the corners). */
export const hardSigmoid = unary<'hardSigmoid'>(onnxOp('HardSigmoid', (op) => ({ alpha: op.alpha, beta: op.beta })), (op, { builder, name }, x) => {
  const t = builder.op('Add', [builder.op('Mul', [x, builder.scalar(`${name}.alpha`, op.alpha)], `${name}/ax`), builder.scalar(`${name}.beta`, op.beta)], `${name}/t`);
  const inside = builder.op('And', [builder.op('Greater', [t, builder.scalar(`${name}.zero`, 0)], `${name}/t_pos`), builder.op('Less', [t, builder.scalar(`${name}.one`, 1)], `${name}/t_below`)], `${name}/inside`);
  return builder.op('Where', [inside, builder.scalar(`${name}.alpha_value`, op.alpha), builder.scalar(`${name}.zero_value`, 0)], `${name}/derivative`);
});

/** 0 below -3, x/3 + 1/2 up to 3, 1 above (PyTorch's hardswish gradient). */
export const hardSwish = unary<'hardSwish'>(onnxOp('HardSwish'), (_op, { builder, name }, x) => {
  const ramp = builder.op('Add', [builder.op('Mul', [x, builder.scalar(`${name}.third`, 1 / 3)], `${name}/x_third`), builder.scalar(`${name}.half`, 0.5)], `${name}/ramp`);
  const upper = builder.op('Where', [builder.op('LessOrEqual', [x, builder.scalar(`${name}.three`, 3)], `${name}/le3`), ramp, builder.scalar(`${name}.one`, 1)], `${name}/upper`);
  return builder.op('Where', [builder.op('Less', [x, builder.scalar(`${name}.minus_three`, -3)], `${name}/lt_minus3`), builder.scalar(`${name}.zero`, 0), upper], `${name}/derivative`);
});

/**
 * GELU, emitted as its formula (the Gelu op is opset 20): exact x * Phi(x) = x/2 (1 + erf(x/sqrt2)),
 * or the tanh approximation x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
 */
export const gelu = unary<'gelu'>(
  (op, { builder, name, inputs }) => {
    const x = inputs[0];
    const half = builder.op('Mul', [x, builder.scalar(`${name}.half`, 0.5)], `${name}/half_x`);
    let inner: string;
    if (op.approximate === 'none') inner = builder.op('Erf', [builder.op('Mul', [x, builder.scalar(`${name}.inv_sqrt2`, Math.SQRT1_2)], `${name}/scaled`)], `${name}/erf`);
    else {
      const cube = builder.op('Mul', [builder.op('Mul', [x, x], `${name}/x2`), x], `${name}/x3`);
      const poly = builder.op('Add', [x, builder.op('Mul', [cube, builder.scalar(`${name}.cubic`, GELU_CUBIC)], `${name}/cubic_term`)], `${name}/poly`);
      inner = builder.op('Tanh', [builder.op('Mul', [poly, builder.scalar(`${name}.sqrt_2_pi`, SQRT_2_PI)], `${name}/u`)], `${name}/tanh`);
    }
    return builder.op('Mul', [half, builder.op('Add', [inner, builder.scalar(`${name}.one`, 1)], `${name}/one_plus`)], name);
  },
  (op, { builder, name }, x) => {
    const scalar = (hint: string, v: number) => builder.scalar(`${name}.${hint}`, v);
    if (op.approximate === 'none') {
      // Phi(x) + x phi(x) = (1 + erf(x/sqrt2))/2 + x exp(-x^2/2) / sqrt(2 pi)
      const cdf = builder.op('Mul', [builder.op('Add', [builder.op('Erf', [builder.op('Mul', [x, scalar('inv_sqrt2', Math.SQRT1_2)], `${name}/g_scaled`)], `${name}/g_erf`), scalar('one', 1)], `${name}/g_one_plus`), scalar('half', 0.5)], `${name}/cdf`);
      const pdf = builder.op('Mul', [builder.op('Exp', [builder.op('Mul', [builder.op('Mul', [x, x], `${name}/g_x2`), scalar('minus_half', -0.5)], `${name}/g_exponent`)], `${name}/g_exp`), scalar('inv_sqrt_2pi', 1 / Math.sqrt(2 * Math.PI))], `${name}/pdf`);
      return builder.op('Add', [cdf, builder.op('Mul', [x, pdf], `${name}/x_pdf`)], `${name}/derivative`);
    }
    // t = tanh(u), u = sqrt(2/pi)(x + c x^3): (1 + t)/2 + x/2 (1 - t^2) sqrt(2/pi) (1 + 3c x^2)
    const x2 = builder.op('Mul', [x, x], `${name}/g_x2`);
    const u = builder.op('Mul', [builder.op('Add', [x, builder.op('Mul', [builder.op('Mul', [x2, x], `${name}/g_x3`), scalar('cubic', GELU_CUBIC)], `${name}/g_cubic_term`)], `${name}/g_poly`), scalar('sqrt_2_pi', SQRT_2_PI)], `${name}/g_u`);
    const t = builder.op('Tanh', [u], `${name}/g_t`);
    const first = builder.op('Mul', [builder.op('Add', [t, scalar('one', 1)], `${name}/g_one_plus_t`), scalar('half', 0.5)], `${name}/g_first`);
    const sech2 = builder.op('Sub', [scalar('one_b', 1), builder.op('Mul', [t, t], `${name}/g_t2`)], `${name}/g_sech2`);
    const du = builder.op('Mul', [builder.op('Add', [builder.op('Mul', [x2, scalar('three_c', 3 * GELU_CUBIC)], `${name}/g_3cx2`), scalar('one_c', 1)], `${name}/g_poly_prime`), scalar('sqrt_2_pi_b', SQRT_2_PI)], `${name}/g_du`);
    const second = builder.op('Mul', [builder.op('Mul', [builder.op('Mul', [x, scalar('half_b', 0.5)], `${name}/g_half_x`), sech2], `${name}/g_second_a`), du], `${name}/g_second`);
    return builder.op('Add', [first, second], `${name}/derivative`);
  },
);

export const add: OrtRule<'add'> = {
  forward: (_op, { builder, name, inputs }) => (inputs.length === 1 ? builder.op('Identity', inputs, name) : builder.sum(inputs, name)),
  backward: (_op, ctx) => ctx.inShapes.map((shape, i) => (ctx.needs[i] ? sumToShape(ctx, ctx.dy, shape, `${ctx.name}/grad_input${i}`) : undefined)),
};

export const sub: OrtRule<'sub'> = {
  forward: onnxOp('Sub'),
  backward(_op, ctx) {
    const { builder, name, dy, needs, inShapes } = ctx;
    return [
      needs[0] ? sumToShape(ctx, dy, inShapes[0], `${name}/grad_input0`) : undefined,
      needs[1] ? sumToShape(ctx, builder.op('Neg', [dy], `${name}/minus_dy`), inShapes[1], `${name}/grad_input1`) : undefined,
    ];
  },
};

export const mul: OrtRule<'mul'> = {
  forward: onnxOp('Mul'),
  backward(_op, ctx) {
    const { builder, name, dy, needs, inShapes, inputs } = ctx;
    return [0, 1].map((i) => (needs[i] ? sumToShape(ctx, builder.op('Mul', [dy, inputs[1 - i]], `${name}/dy_times_other${i}`), inShapes[i], `${name}/grad_input${i}`) : undefined));
  },
};

export const div: OrtRule<'div'> = {
  forward: onnxOp('Div'),
  backward(_op, ctx) {
    const { builder, name, dy, needs, inShapes, inputs, output } = ctx;
    // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2 = -y/b
    const overB = needs[0] || needs[1] ? builder.op('Div', [dy, inputs[1]], `${name}/dy_over_b`) : '';
    return [
      needs[0] ? sumToShape(ctx, overB, inShapes[0], `${name}/grad_input0`) : undefined,
      needs[1] ? sumToShape(ctx, builder.op('Neg', [builder.op('Mul', [overB, output], `${name}/dy_y_over_b`)], `${name}/minus_dy_y_over_b`), inShapes[1], `${name}/grad_input1`) : undefined,
    ];
  },
};

export const identity: OrtRule<'identity'> = { forward: onnxOp('Identity'), backward: (_op, { dy }) => [dy] };
