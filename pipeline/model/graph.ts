/**
 * The one in-memory CNN graph every loader produces and every engine runs.
 * Layout is NCHW, float32. Conv weights are OIHW (output, input/group, kernel h, kernel w).
 * Nodes are stored in topological order; `inputs` name earlier nodes or INPUT.
 */
export const INPUT = 'input';

export interface Tensor {
  shape: number[];
  data: Float32Array;
}

/** [top, left, bottom, right] */
export type Pads = [number, number, number, number];
export type Pair = [number, number];

export type Op =
  | { kind: 'conv'; weight: Tensor; bias?: Float32Array; strides: Pair; pads: Pads; dilations: Pair; group: number }
  | { kind: 'batchNorm'; scale: Float32Array; bias: Float32Array; mean: Float32Array; variance: Float32Array; epsilon: number }
  | { kind: 'relu' }
  | { kind: 'leakyRelu'; alpha: number }
  | { kind: 'clip'; min: number; max: number }
  /** ceil: output size rounds up (torch ceil_mode, Keras 'same' pooling). Padding is -inf. */
  | { kind: 'maxPool'; kernel: Pair; strides: Pair; pads: Pads; ceil: boolean }
  | { kind: 'avgPool'; kernel: Pair; strides: Pair; pads: Pads; ceil: boolean; countIncludePad: boolean }
  | { kind: 'globalAvgPool' }
  /** Zero padding of the spatial dims. */
  | { kind: 'pad'; pads: Pads }
  /** Element-wise sum of all inputs (residual connections). */
  | { kind: 'add' }
  /** Concatenation along channels. */
  | { kind: 'concat' }
  /** (N, C, 1, 1) or (N, C) -> (N, out): weight is [out, in]. */
  | { kind: 'dense'; weight: Tensor; bias?: Float32Array }
  | { kind: 'flatten' }
  | { kind: 'softmax' }
  /** Dropout, reshape to the same features, and other no-ops at inference. */
  | { kind: 'identity' };

export type OpKind = Op['kind'];

export interface GraphNode {
  /** The source's own name: Keras `conv2d_12`, torchvision `features.40`, ONNX node name. */
  name: string;
  /** Other names that address this node (torchvision features index `40`). */
  aliases?: string[];
  op: Op;
  inputs: string[];
}

export interface Graph {
  inputChannels: number;
  nodes: GraphNode[];
  /** Name of the node whose output is the model output. */
  output: string;
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
  graph: Graph;
  preprocessing: Preprocessing;
  /** Class labels, index = output unit, when the model has them. */
  labels?: string[];
  /** WordNet ids of the output classes (same order as labels), to match dataset classes. */
  labelWnids?: string[];
  /** sha256 over the weight files, hex. */
  weightsDigest: string;
}
