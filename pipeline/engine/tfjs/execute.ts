/**
 * Runs a model graph (at one image size) with tfjs ops, from RGB [0, 1] NCHW input through the
 * model's preprocessing to the requested layers. Convolutions run as fused steps (conv.ts), every
 * other op by its rule (ops.ts). Weight tensors are made once per (node, fusion) on first use and
 * kept until dispose(); plans are cached per size and layer set.
 */
import type { Tensor, Tensor1D, Tensor4D } from '@tensorflow/tfjs';
import { userError } from '../../errors.js';
import { INPUT, type CnnModel, type Op } from '../../model/graph.js';
import type { SizedGraph } from '../../model/sized.js';
import { applyConv, disposeConvUnit, makeConvUnit, type ConvUnit } from './conv.js';
import { TFJS_RULES, type TfjsContext, type TfValue } from './ops.js';
import { makePlan, type Plan, type Step } from './plan.js';
import type { TfModule } from './runtime.js';
import { foldConv } from './weights.js';

type TfjsRule = (op: Op, inputs: TfValue[], ctx: TfjsContext) => TfValue;

export interface GraphRunner {
  /** Plan for these node names (resolved, not aliases) at this size; cached. */
  plan(sized: SizedGraph, targets: readonly string[]): Plan;
  /**
   * Outputs of the plan's targets for an NCHW RGB batch, each with its layout. free: dispose
   * intermediates after their last reader (not while recording gradients, whose tape still needs
   * them). replace: values used instead of computing those steps' outputs (a gradient with respect
   * to an inner layer differentiates through the value given here). Call inside tf.tidy.
   */
  run(rgbNchw: Tensor4D, sized: SizedGraph, plan: Plan, free: boolean, replace?: ReadonlyMap<string, TfValue>): Map<string, TfValue>;
  dispose(): void;
}

export function createGraphRunner(tf: TfModule, model: CnnModel): GraphRunner {
  const convs = new Map<string, ConvUnit>();
  const kept = new Map<string, Tensor>();
  const plans = new Map<string, Plan>();
  const { mean, std } = model.preprocessing;
  const identityPreprocessing = mean.every((m) => m === 0) && std.every((s) => s === 1);
  // Created outside any tidy scope, so they live until dispose().
  const preprocess = identityPreprocessing ? undefined : { a: tf.tensor1d(std.map((s) => 1 / s)), b: tf.tensor1d(mean.map((m, i) => -m / std[i])) as Tensor1D };

  function convUnit(step: Extract<Step, { kind: 'conv' }>): ConvUnit {
    const key = `${step.conv.name}|${step.batchNorm?.node.name ?? ''}|${step.conv.op.kind === 'conv' ? step.conv.op.pads.join(',') : ''}`;
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

  function keep(key: string, make: () => Tensor): Tensor {
    let t = kept.get(key);
    if (!t) {
      t = tf.keep(make());
      kept.set(key, t);
    }
    return t;
  }

  return {
    plan(sized, targets) {
      const key = `${sized.size.join('x')}|${[...targets].sort().join('\u0000')}`;
      let plan = plans.get(key);
      if (!plan) {
        plan = makePlan(sized.graph, targets);
        plans.set(key, plan);
      }
      return plan;
    },

    run(rgbNchw, sized, plan, free, replace) {
      const nhwc = tf.transpose(rgbNchw, [0, 2, 3, 1]);
      const values = new Map<string, TfValue>([[INPUT, { t: preprocess ? tf.add(tf.mul(nhwc, preprocess.a), preprocess.b) : nhwc, nhwc: true }]]);
      plan.steps.forEach((step, i) => {
        const inputNames = step.kind === 'conv' ? [step.input] : step.node.inputs;
        const inputs = inputNames.map((name) => values.get(name)!);
        let out: TfValue;
        const given = replace?.get(step.output);
        if (given) out = given;
        else if (step.kind === 'conv') {
          const x = inputs[0].nhwc ? (inputs[0].t as Tensor4D) : (tf.transpose(inputs[0].t, [0, 2, 3, 1]) as Tensor4D);
          out = { t: applyConv(tf, x, convUnit(step), step.activation), nhwc: true };
        } else {
          const rule = TFJS_RULES[step.node.op.kind as Exclude<Op['kind'], 'conv'>] as unknown as TfjsRule;
          const context: TfjsContext = { tf, node: step.node, inShapes: inputNames.map((n) => sized.shapes.get(n)!), outShape: sized.shapes.get(step.node.name)!, kept: keep };
          out = rule(step.node.op, inputs, context);
        }
        values.set(step.output, out);
        if (!free) return;
        for (const name of inputNames) {
          if (plan.lastUse.get(name) === i && !plan.targets.has(name)) {
            const value = values.get(name)!;
            // Constants and other kept tensors outlive the call.
            if (![...kept.values()].includes(value.t)) value.t.dispose();
            values.delete(name);
          }
        }
      });
      return new Map([...plan.targets].map((name) => [name, values.get(name)!]));
    },

    dispose() {
      for (const unit of convs.values()) disposeConvUnit(unit);
      for (const t of kept.values()) t.dispose();
      if (preprocess) tf.dispose([preprocess.a, preprocess.b]);
      convs.clear();
      kept.clear();
      plans.clear();
    },
  };
}
