/**
 * The one in-memory graph every loader produces and every engine runs: a DAG of tensor ops.
 * Computed tensors carry the batch as their first dimension; every op acts on each image
 * alone (no op mixes the batch). Conv and pooling layers are NCHW, float32; conv weights are
 * OIHW (output, input/group, kernel h, kernel w). Nodes are stored in topological order;
 * `inputs` name earlier nodes or INPUT. The semantics of each op (shape rule, gradient, both
 * engines' lowering) live in one table: pipeline/ops/.
 */
export const INPUT = 'input';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** [top, left, bottom, right] */
export type Pads = [number, number, number, number];
export type Pair = [number, number];

/**
 * TensorFlow/Keras 'same' padding (ONNX auto_pad SAME_UPPER / SAME_LOWER): the pads depend on the
 * input size when a stride is above 1, so they are computed at every size (pipeline/model/sized.ts);
 * the op's `pads` hold them at the model's own input size.
 */
export type AutoPad = 'same-upper' | 'same-lower';

/**
 * One dimension of a Reshape target, over the full shape (batch first): a fixed size, -1 (inferred),
 * or a copy of input dimension `input` (0 = the batch). Copies keep a reshape valid at every image
 * size, e.g. a channel shuffle [N, C, H, W] -> [N, 2, C/2, H, W].
 */
export type ReshapeDim = number | { input: number };

type Unary<K extends string> = { kind: K };

export type Op =
  | { kind: 'conv'; weight: Tensor; bias?: Float32Array; strides: Pair; pads: Pads; dilations: Pair; group: number; autoPad?: AutoPad }
  /** Per channel (axis 1) in inference mode, any rank >= 2. */
  | { kind: 'batchNorm'; scale: Float32Array; bias: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number }
  | Unary<'relu'>
  | { kind: 'leakyRelu'; alpha: number }
  | { kind: 'clip'; min: number; max: number }
  /** ceil: output size rounds up (torch ceil_mode, Keras 'same' pooling). Padding is -inf. */
  | { kind: 'maxPool'; kernel: Pair; strides: Pair; pads: Pads; ceil: boolean; autoPad?: AutoPad }
  | { kind: 'avgPool'; kernel: Pair; strides: Pair; pads: Pads; ceil: boolean; countIncludePad: boolean; autoPad?: AutoPad }
  /** (N, C, H, W) -> (N, C, 1, 1). */
  | Unary<'globalAvgPool'>
  /** Zero padding of the spatial dims of an NCHW tensor. */
  | { kind: 'pad'; pads: Pads }
  /** Element-wise sum of all inputs, with NumPy broadcasting (residual connections, biases). */
  | Unary<'add'>
  /** Element-wise binary ops with NumPy broadcasting: inputs[0] op inputs[1]. */
  | Unary<'sub'>
  | Unary<'mul'>
  | Unary<'div'>
  /** x ** exponent (a constant exponent). */
  | { kind: 'pow'; exponent: number }
  | Unary<'sigmoid'>
  | Unary<'tanh'>
  | Unary<'erf'>
  | Unary<'softplus'>
  | Unary<'sqrt'>
  | Unary<'reciprocal'>
  | Unary<'neg'>
  /** max(0, min(1, alpha * x + beta)). */
  | { kind: 'hardSigmoid'; alpha: number; beta: number }
  /** x * hardSigmoid(x) with alpha 1/6, beta 1/2. */
  | Unary<'hardSwish'>
  /** x * Phi(x), exact (erf) or with the tanh approximation. */
  | { kind: 'gelu'; approximate: 'none' | 'tanh' }
  /** Over `axes` of the full shape (never 0, the batch), sorted, non-negative. */
  | { kind: 'reduceMean'; axes: number[]; keepDims: boolean }
  | { kind: 'reduceSum'; axes: number[]; keepDims: boolean }
  /** perm over the full shape; perm[0] is 0 (the batch stays first). */
  | { kind: 'transpose'; perm: number[] }
  /** Target over the full shape; its first entry resolves to the batch. */
  | { kind: 'reshape'; shape: ReshapeDim[] }
  /** Collapses every dimension after the batch into one: (N, C, H, W) -> (N, C*H*W). */
  | Unary<'flatten'>
  /** Removes size-1 axes / inserts them (full-shape axes, sorted, never 0). */
  | { kind: 'squeeze'; axes: number[] }
  | { kind: 'unsqueeze'; axes: number[] }
  /** [start, end) along one axis (full-shape index, never 0), step 1; start/end already clamped. */
  | { kind: 'slice'; axis: number; start: number; end: number }
  /** Concatenation along `axis` (full shape, default 1: channels). */
  | { kind: 'concat'; axis?: number }
  /** Normalises over the axes from `axis` to the last (full-shape index >= 1), then scale and bias. */
  | { kind: 'layerNorm'; axis: number; epsilon: number; scale?: Float32Array; bias?: Float32Array }
  /** Linear map of the last axis: (..., in) -> (..., out); weight is [out, in]. */
  | { kind: 'dense'; weight: Tensor; bias?: Float32Array }
  /** Softmax along `axis` (default 1). */
  | { kind: 'softmax'; axis?: number }
  /** A constant operand of an element-wise op (no batch dimension; broadcasts like NumPy). No inputs. */
  | { kind: 'constant'; value: Tensor }
  /** Dropout and other no-ops at inference. */
  | Unary<'identity'>;

export type OpKind = Op['kind'];
export type OpOf<K extends OpKind> = Extract<Op, { kind: K }>;

export interface GraphNode {
  /** The source's own name: Keras `conv2d_12`, torchvision `features.40`, ONNX node name. */
  name: string;
  /** Other names that address this node (torchvision features index `40`, ONNX module path `layer4.1`). */
  aliases?: string[];
  op: Op;
  inputs: string[];
}

export interface Graph {
  inputChannels: number;
  nodes: GraphNode[];
  /** Name of the node whose output is the model output. */
  output: string;
  /**
   * Only in a graph for another image size: nodes left out because they cannot run at that size
   * (a linear layer sized for the model's own input, a window larger than the map), with the reason.
   * Asking for one of them gives that reason.
   */
  invalid?: Map<string, Error>;
}

/**
 * The model's own preprocessing: model input = (rgb - mean) / std per channel,
 * where rgb is in [0, 1] after resizing to inputSize. Engines apply it inside the graph,
 * so every engine call takes RGB in [0, 1].
 */
export interface Preprocessing {
  inputSize: Pair;
  mean: [number, number, number];
  std: [number, number, number];
  /** How an image of another aspect ratio reaches inputSize. */
  resize: 'stretch' | 'center-crop';
}

export interface CnnModel {
  /** Built-in name or the file name it came from. */
  name: string;
  /** Free-form version (from the source, or the weights digest prefix). */
  version: string;
  source: { format: 'tfjs-layers' | 'safetensors' | 'onnx'; path: string; architecture?: string };
  /** The graph at the model's own input size (preprocessing.inputSize). */
  graph: Graph;
  /**
   * The graph at another input size, for sources whose graph depends on it (an ONNX export's shape
   * subgraphs are evaluated per size). Absent: `graph` holds at every size. Use graphAtSize().
   */
  graphFor?: (size: Pair) => Graph;
  preprocessing: Preprocessing;
  /** Class labels, index = output unit, when the model has them. */
  labels?: string[];
  /** WordNet ids of the output classes (same order as labels), to match dataset classes. */
  labelWnids?: string[];
  /** sha256 over the weight files, hex. */
  weightsDigest: string;
  /** The files weightsDigest covers, in digest order (a TensorFlow.js model.json first, then its shards). */
  weightFiles?: string[];
}
