/**
 * The ONNX Runtime engine's rule for every op of the model graph: how to emit it and its input
 * gradient. The compiler checks that each op kind has an entry; shape rules live with the model
 * (pipeline/model/shapes.ts) and the tfjs engine has its own table (pipeline/engine/tfjs/ops.ts).
 */
import type { OpKind } from '../../../model/graph.js';
import type { OrtRule } from './context.js';
import * as elementwise from './elementwise.js';
import * as layout from './layout.js';
import * as reduce from './reduce.js';
import * as spatial from './spatial.js';

export const ORT_RULES: { [K in OpKind]: OrtRule<K> } = {
  conv: spatial.conv,
  maxPool: spatial.maxPool,
  avgPool: spatial.avgPool,
  globalAvgPool: spatial.globalAvgPool,
  pad: spatial.pad,
  batchNorm: elementwise.batchNorm,
  relu: elementwise.relu,
  leakyRelu: elementwise.leakyRelu,
  clip: elementwise.clip,
  sigmoid: elementwise.sigmoid,
  tanh: elementwise.tanh,
  erf: elementwise.erf,
  softplus: elementwise.softplus,
  sqrt: elementwise.sqrt,
  reciprocal: elementwise.reciprocal,
  neg: elementwise.neg,
  pow: elementwise.pow,
  hardSigmoid: elementwise.hardSigmoid,
  hardSwish: elementwise.hardSwish,
  gelu: elementwise.gelu,
  add: elementwise.add,
  sub: elementwise.sub,
  mul: elementwise.mul,
  div: elementwise.div,
  identity: elementwise.identity,
  reduceMean: reduce.reduceMean,
  reduceSum: reduce.reduceSum,
  layerNorm: reduce.layerNorm,
  softmax: reduce.softmax,
  dense: reduce.dense,
  transpose: layout.transpose,
  reshape: layout.reshape,
  flatten: layout.flatten,
  squeeze: layout.squeeze,
  unsqueeze: layout.unsqueeze,
  slice: layout.slice,
  concat: layout.concat,
  constant: layout.constant,
};

/** Op kinds whose input gradient the engine can emit. */
export const DIFFERENTIABLE_OPS = (Object.keys(ORT_RULES) as OpKind[]).filter((kind) => ORT_RULES[kind].backward !== undefined);
