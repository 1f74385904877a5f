/**
 * Runs a model graph with tfjs ops, NHWC inside (tfjs's native layout), from RGB [0, 1] NCHW
 * input through the model's preprocessing to the requested layers. Weight tensors are made
 * once per (node, fusion) on first use and kept until dispose(); plans are cached per layer set.
 */
import type { Tensor, Tensor1D, Tensor2D, Tensor4D } from '@tensorflow/tfjs';
import { userError } from '../../errors.js';
import { INPUT, type CnnModel, type GraphNode, type Op } from '../../model/graph.js';
import { applyConv, disposeConvUnit, makeConvUnit, type ConvUnit } from './conv.js';
import { makePlan, type Plan, type Step } from './plan.js';
import { avgPool, maxPool } from './pool.js';
import type { TfModule } from './runtime.js';
import { batchNormAffine, foldConv } from './weights.js';

export interface GraphRunner {
  /** Plan for these node names (resolved, not aliases); cached. */
  plan(targets: readonly string[]): Plan;
  /**
   * Outputs of the plan's targets for an NCHW RGB batch: NHWC rank 4, or [N, features] after
   * flatten/dense. free: dispose intermediates after their last reader (not while recording
   * gradients, whose tape still needs them). Call inside tf.tidy.
   */
  run(rgbNchw: Tensor4D, plan: Plan, free: boolean): Map<string, Tensor>;
  dispose(): void;
}

export function createGraphRunner(tf: TfModule, model: CnnModel): GraphRunner {
  const convs = new Map<string, ConvUnit>();
  const affines = new Map<string, { a: Tensor1D; b: Tensor1D }>();
  const denses = new Map<string, { weight: Tensor2D; bias?: Tensor1D }>();
  const plans = new Map<string, Plan>();
  const { mean, std } = model.preprocessing;
  const identityPreprocessing = mean.every((m) => m === 0) && std.every((s) => s === 1);
  // Created outside any tidy scope, so they live until dispose().
  const preprocess = identityPreprocessing
    ? undefined
    : { a: tf.tensor1d(std.map((s) => 1 / s)), b: tf.tensor1d(mean.map((m, i) => -m / std[i])) };

  function convUnit(step: Extract<Step, { kind: 'conv' }>): ConvUnit {
    const key = `${step.conv.name}|${step.batchNorm?.node.name ?? ''}`;
    let unit = convs.get(key);
    if (!unit) {
      const op = step.conv.op as Extract<Op, { kind: 'conv' }>;
      if (op.strides.some((s) => s > 1) && op.dilations.some((d) => d > 1)) {
        throw userError({
          where: `tfjs engine, conv node ${JSON.stringify(step.conv.name)}`,
          expected: 'strides 1 or dilations 1 (tfjs cannot do both)',
          received: `strides ${op.strides.join('x')} with dilations ${op.dilations.join('x')}`,
          fix: 'Use --engine ort for this model',
        });
      }
      const inChannels = op.weight.shape[1] * op.group;
      unit = makeConvUnit(tf, op, foldConv(op, step.batchNorm?.op), inChannels);
      // Possibly created inside a tidy/gradient scope: keep them alive until dispose().
      for (const k of unit.kernels) for (const t of [k.filter, k.bias, ...k.backward]) tf.keep(t);
      convs.set(key, unit);
    }
    return unit;
  }

  function affine(node: GraphNode, op: Extract<Op, { kind: 'batchNorm' }>) {
    let t = affines.get(node.name);
    if (!t) {
      const { a, b } = batchNormAffine(op);
      t = { a: tf.keep(tf.tensor1d(a)), b: tf.keep(tf.tensor1d(b)) };
      affines.set(node.name, t);
    }
    return t;
  }

  function dense(node: GraphNode, op: Extract<Op, { kind: 'dense' }>) {
    let t = denses.get(node.name);
    if (!t) {
      const [out, inp] = op.weight.shape;
      t = { weight: tf.keep(tf.tensor2d(op.weight.data, [out, inp])), bias: op.bias ? tf.keep(tf.tensor1d(op.bias)) : undefined };
      denses.set(node.name, t);
    }
    return t;
  }

  /** Rank 4 NHWC -> [N, C*H*W] in NCHW order, as the graph (torch/ONNX) flattens. */
  function flatten(x: Tensor): Tensor2D {
    if (x.rank === 2) return x.clone() as Tensor2D;
    const [n, h, w, c] = x.shape;
    if (h === 1 && w === 1) return x.reshape([n, c]);
    return tf.transpose(x, [0, 3, 1, 2]).reshape([n, c * h * w]);
  }

  function runNode(node: GraphNode, inputs: Tensor[]): Tensor {
    const op = node.op;
    const x = inputs[0];
    switch (op.kind) {
      case 'batchNorm': {
        const { a, b } = affine(node, op);
        return tf.add(tf.mul(x, a), b);
      }
      case 'relu':
        return tf.relu(x);
      case 'leakyRelu':
        return tf.leakyRelu(x, op.alpha);
      case 'clip':
        return tf.clipByValue(x, op.min, op.max);
      case 'maxPool':
        return maxPool(tf, x as Tensor4D, op);
      case 'avgPool':
        return avgPool(tf, x as Tensor4D, op);
      case 'globalAvgPool':
        return tf.mean(x, [1, 2], true);
      case 'pad':
        return tf.pad(x, [[0, 0], [op.pads[0], op.pads[2]], [op.pads[1], op.pads[3]], [0, 0]]);
      case 'add':
        return inputs.length === 1 ? x.clone() : tf.addN(inputs);
      case 'concat':
        return tf.concat(inputs, x.rank - 1);
      case 'dense': {
        const { weight, bias } = dense(node, op);
        const y = tf.matMul(flatten(x), weight, false, true);
        return bias ? tf.add(y, bias) : y;
      }
      case 'flatten':
        return flatten(x);
      case 'softmax':
        return tf.softmax(x);
      case 'identity':
        // A new tensor object (same data), so freeing the input cannot free this output.
        return x.clone();
      case 'conv':
        throw new Error('conv nodes run as conv steps');
    }
  }

  return {
    plan(targets) {
      const key = [...targets].sort().join('\u0000');
      let plan = plans.get(key);
      if (!plan) {
        plan = makePlan(model.graph, targets);
        plans.set(key, plan);
      }
      return plan;
    },

    run(rgbNchw, plan, free) {
      const nhwc = tf.transpose(rgbNchw, [0, 2, 3, 1]);
      const values = new Map<string, Tensor>([[INPUT, preprocess ? tf.add(tf.mul(nhwc, preprocess.a), preprocess.b) : nhwc]]);
      plan.steps.forEach((step, i) => {
        const inputNames = step.kind === 'conv' ? [step.input] : step.node.inputs;
        const inputs = inputNames.map((name) => values.get(name)!);
        const out = step.kind === 'conv' ? applyConv(tf, inputs[0] as Tensor4D, convUnit(step), step.activation) : runNode(step.node, inputs);
        values.set(step.output, out);
        if (!free) return;
        for (const name of inputNames) {
          if (plan.lastUse.get(name) === i && !plan.targets.has(name)) {
            values.get(name)!.dispose();
            values.delete(name);
          }
        }
      });
      return new Map([...plan.targets].map((name) => [name, values.get(name)!]));
    },

    dispose() {
      for (const unit of convs.values()) disposeConvUnit(unit);
      for (const t of affines.values()) tf.dispose([t.a, t.b]);
      for (const t of denses.values()) tf.dispose(t.bias ? [t.weight, t.bias] : [t.weight]);
      if (preprocess) tf.dispose([preprocess.a, preprocess.b]);
      convs.clear();
      affines.clear();
      denses.clear();
      plans.clear();
    },
  };
}
