import type { CnnModel } from '../model/graph.js';
import type { DeviceName } from '../schema/device.js';

/** A batch of RGB images in [0, 1], NCHW with 3 channels. */
export interface ImageBatch {
  data: Float32Array;
  n: number;
  height: number;
  width: number;
}

/** A layer's output for a batch, NCHW. */
export interface FeatureMaps {
  data: Float32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
}

export interface ObjectiveGradient {
  /** Per image: sum over channels c of weights[n, c] * mean over space of the layer's channel c. */
  objective: Float32Array;
  /** d objective[n] / d image[n], same layout as the input batch (RGB [0, 1] space). */
  gradient: Float32Array;
}

export type EngineName = 'ort' | 'tfjs';

/** The device an engine actually runs on. */
export type DeviceKind = Exclude<DeviceName, 'auto'>;

export interface EngineInfo {
  name: EngineName;
  /**
   * What actually runs the maths, e.g. "onnxruntime 1.30.0 cpu, 2 threads", "onnxruntime 1.30.0
   * webgpu, 2 threads" or "tfjs 4.22.0 wasm (SIMD, 1 thread)". Every content key holds it, so
   * records of one device are never reused for another (float rounding differs between them).
   */
  device: string;
  /** The device asked for, resolved: `auto` became one of these. */
  deviceKind: DeviceKind;
  /**
   * For `device: auto`, one line saying what was chosen and why the devices before it were
   * skipped, e.g. "device auto: cpu (cuda: ...; webgpu: ...)"; callers print it. Absent otherwise.
   */
  selection?: string;
}

/**
 * Where each node of one ONNX program ran, from ONNX Runtime's profile of its first run
 * (onnxruntime engine only; see ort/placement.ts).
 */
export interface PlacementReport {
  /** The program: purpose, layer and image size, e.g. "gradient|features.42|224x224". */
  graph: string;
  /** Nodes run (after ONNX Runtime's own graph optimisations and layout changes). */
  nodes: number;
  /** Nodes and estimated FLOPs per execution provider ("cpu", "webgpu", "cuda"). */
  providers: Record<string, { nodes: number; flops: number }>;
  /** Host <-> device copies ONNX Runtime inserted between providers: count and bytes per run. */
  copies: { nodes: number; bytes: number };
  /**
   * On a GPU provider, the bytes of the program's inputs (host -> device) and outputs (device -> host)
   * per run: ONNX Runtime copies them at the run's edges, outside the profile. Absent on the CPU.
   * For an ascent program (Engine.startAscent) they are per step, and `scale` says what crosses once
   * per scale: the start state in, the picture back at the end.
   */
  transfers?: { toDevice: number; toHost: number; scale?: { toDevice: number; toHost: number } };
  /** Op types of the nodes left on the CPU while a GPU provider ran the rest, with counts. */
  cpuOps: Record<string, number>;
}

/** Bytes copied between the host and a GPU device. */
export interface BytesMoved {
  toDevice: number;
  toHost: number;
}

/**
 * One scale of the article's ascent, to run with its state on the engine's device
 * (Engine.startAscent): the optimised variable x = (rgb - mean) / std of the pixel space, and what
 * the in-graph Adam needs besides (ort/ascent-program.ts).
 */
export interface DeviceAscentInit {
  /** x at the scale's start, NCHW. */
  params: Float32Array;
  n: number;
  height: number;
  width: number;
  layer: string;
  /** n x channels of the layer, as objectiveGradient takes them. */
  channelWeights: Float32Array;
  /** The pixel space of x (visualize/parameterization.ts). */
  space: { mean: readonly number[]; std: readonly number[] };
  /** Images frozen before this scale (they diverged): never updated. */
  frozen: readonly boolean[];
  /** Adam's constants; the step size and bias correction come with each step. */
  adam: { weightDecay: number; beta1: number; beta2: number; eps: number };
}

/** A scale's ascent whose images and Adam moments stay on the device between steps. */
export interface DeviceAscent {
  /**
   * One Adam step on -objective (visualize/adam.ts's numbers: adamScalars). Returns the objective of
   * each image before the step, NaN for an image whose objective or gradient was not finite: the
   * device froze it as the host loop freezes a diverged image (set to 0, never updated again).
   */
  step(stepSize: number, sqrtCorrection2: number): Promise<Float32Array>;
  /** x after the last step, and per image whether a non-zero gradient reached it in a step where it was not frozen. */
  finish(): Promise<{ params: Float32Array; gradientSeen: boolean[] }>;
  /** Frees the device state; safe to call twice, and after finish. */
  dispose(): Promise<void>;
}

/**
 * What the pipeline needs from a numerical engine. Every image input is RGB in [0, 1]:
 * the model's own preprocessing happens inside the engine.
 */
export interface Engine {
  readonly info: EngineInfo;
  /** Output of each named layer (names or aliases as in the model graph). */
  forward(batch: ImageBatch, layers: readonly string[]): Promise<Map<string, FeatureMaps>>;
  /**
   * Objective and its gradient w.r.t. the input, for one layer.
   * channelWeights is n x channels of the layer (row-major); a one-hot row maximises one filter.
   */
  objectiveGradient(batch: ImageBatch, layer: string, channelWeights: Float32Array): Promise<ObjectiveGradient>;
  /**
   * The gradient w.r.t. the input of an objective computed outside the engine from a layer's
   * output (a vector-Jacobian product): `layerGradient` is d objective / d layer output, NCHW like
   * the layer. Returns the layer's output and d objective / d image (RGB [0, 1] space).
   */
  backward(batch: ImageBatch, layer: string, layerGradient: Float32Array): Promise<{ activation: FeatureMaps; gradient: Float32Array }>;
  /**
   * For the objective of objectiveGradient, and each channel i of the earlier layer `from`:
   * sum over space of from[n, i] * d objective[n] / d from[n, i] (gradient x activation), n x C_from,
   * row-major: how much each of `from`'s channels contributes to each image's objective.
   */
  attribution(batch: ImageBatch, layer: string, channelWeights: Float32Array, from: string): Promise<{ objective: Float32Array; attribution: Float32Array }>;
  /**
   * attribution for several objectives per image: row r is the objective of channelWeights[r] (R x
   * channels of `layer`) on image rowImages[r] of the batch; returns R objectives and R x C_from
   * attributions. Equal, within float rounding, to attribution on a batch holding image rowImages[r]
   * at position r, but an engine may compute what the rows share once per image (onnxruntime runs
   * the forward pass once per image and the backward pass per row, see ort/programs.ts).
   */
  rowAttribution(batch: ImageBatch, layer: string, channelWeights: Float32Array, from: string, rowImages: Int32Array): Promise<{ objective: Float32Array; attribution: Float32Array }>;
  /**
   * Floating-point operations run so far, counted per node of the programs that actually ran as
   * `--verbose` placement lines count them (onnxruntime: ort/placement.ts, from each program's
   * profiled first run, scaled by each run's batch). Absent when the engine cannot count (tfjs).
   */
  flopsComputed?(): number;
  /**
   * Present where the engine can keep a scale's ascent on its device (onnxruntime on WebGPU): the
   * loop then runs the steps through it, and only the objective comes back each step. Absent: the
   * loop runs Adam on the host with objectiveGradient (the CPU, and the tfjs engine).
   */
  startAscent?(init: DeviceAscentInit): Promise<DeviceAscent>;
  /**
   * Bytes copied between the host and a GPU device at the edges of the runs so far (inputs in,
   * outputs back); absent where nothing crosses (the CPU provider, tfjs).
   */
  bytesMoved?(): BytesMoved;
  dispose(): Promise<void>;
}

/** What an engine has done so far, for build's per-stage figures (meterEngine). */
export interface EngineUsage {
  /** Seconds with at least one engine call in flight: overlapping calls count once, so it never exceeds the wall time. */
  seconds: number;
  /** Engine.flopsComputed; absent when the engine cannot count. */
  flops?: number;
}

/**
 * The engine with every call timed at this interface, so both engines report alike: usage() is
 * the busy time (calls in flight) and the FLOPs so far; a stage's figures are the difference of two.
 */
export function meterEngine(engine: Engine, now: () => number = () => performance.now()): { engine: Engine; usage(): EngineUsage } {
  let inFlight = 0;
  let busySince = 0;
  let busy = 0;
  const timed = async <T>(call: () => Promise<T>): Promise<T> => {
    if (inFlight++ === 0) busySince = now();
    try {
      return await call();
    } finally {
      if (--inFlight === 0) busy += now() - busySince;
    }
  };
  const metered: Engine = {
    info: engine.info,
    forward: (batch, layers) => timed(() => engine.forward(batch, layers)),
    objectiveGradient: (batch, layer, weights) => timed(() => engine.objectiveGradient(batch, layer, weights)),
    backward: (batch, layer, gradient) => timed(() => engine.backward(batch, layer, gradient)),
    attribution: (batch, layer, weights, from) => timed(() => engine.attribution(batch, layer, weights, from)),
    rowAttribution: (batch, layer, weights, from, rows) => timed(() => engine.rowAttribution(batch, layer, weights, from, rows)),
    ...(engine.flopsComputed ? { flopsComputed: () => engine.flopsComputed!() } : {}),
    ...(engine.startAscent ? { startAscent: (init: DeviceAscentInit) => timed(() => engine.startAscent!(init)).then((ascent) => meterAscent(ascent, timed)) } : {}),
    ...(engine.bytesMoved ? { bytesMoved: () => engine.bytesMoved!() } : {}),
    dispose: () => engine.dispose(),
  };
  return {
    engine: metered,
    usage() {
      const seconds = (busy + (inFlight > 0 ? now() - busySince : 0)) / 1000;
      const flops = engine.flopsComputed?.();
      return { seconds, ...(flops !== undefined ? { flops } : {}) };
    },
  };
}

/** The ascent with its steps and read-back timed as engine calls. */
function meterAscent(ascent: DeviceAscent, timed: <T>(call: () => Promise<T>) => Promise<T>): DeviceAscent {
  return {
    step: (stepSize, correction) => timed(() => ascent.step(stepSize, correction)),
    finish: () => timed(() => ascent.finish()),
    dispose: () => ascent.dispose(),
  };
}

export interface EngineOptions {
  engine: EngineName;
  /** Intra-op threads; default: the number of cores. */
  threads?: number;
  /** @default 'auto' */
  device?: DeviceName;
  /**
   * Called once per program the engine builds, with where its nodes ran (onnxruntime: from a profile
   * of the program's first run; `--verbose` and the bench print it). Unset: no profiling at all.
   */
  onPlacement?: (report: PlacementReport) => void;
}

export type EngineFactory = (model: CnnModel, options: EngineOptions) => Promise<Engine>;
