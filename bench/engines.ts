/**
 * Engine step cases: one step = Engine.objectiveGradient (forward to the layer + gradient w.r.t.
 * the input images) for a batch, each image maximising its own filter (one-hot channel weights);
 * where the engine keeps the ascent on its device (Engine.startAscent: onnxruntime on WebGPU), the
 * step the visualisation runs there: that gradient and Adam's update, with the state on the device.
 * On a GPU each row also says the bytes one step moves (Engine.bytesMoved).
 * Engines are created once per (engine, model) and shared by that model's cases.
 */
import { createEngine } from '../pipeline/engine/create.js';
import type { BytesMoved, Engine, EngineName, PlacementReport } from '../pipeline/engine/engine.js';
import type { DeviceName } from '../pipeline/schema/device.js';
import { placementSummary } from '../pipeline/engine/ort/placement.js';
import { FilterAtlasError } from '../pipeline/errors.js';
import type { CnnModel } from '../pipeline/model/graph.js';
import { findLayer } from '../pipeline/model/layers.js';
import { createRandom } from '../pipeline/util/random.js';
import type { BenchCase, TimingOptions } from './runner.js';
import { timeSteps } from './runner.js';
import { wasmHeapSkip } from './wasm-heap.js';

export interface EngineCaseOptions {
  engine: EngineName;
  /** Name in the rows (e.g. vgg16_bn), matching the PyTorch rows. */
  modelName: string;
  layer: string;
  size: number;
  batch: number;
  timing?: TimingOptions;
}

export interface EnginePoolOptions {
  /** @default 'auto' */
  device?: DeviceName;
  /** Every placement report as it comes (the bench prints them with --verbose). */
  onPlacement?: (report: PlacementReport) => void;
}

/**
 * Lazily created models and engines, disposed together at the end of the bench. Every engine
 * reports where its programs' nodes ran (profiled on the untimed warm-up step).
 */
export class EnginePool {
  private readonly models = new Map<string, Promise<CnnModel>>();
  private readonly engines = new Map<string, Promise<Engine>>();
  /** Placement reports per engine key, in the order they came. */
  private readonly placements = new Map<string, PlacementReport[]>();

  constructor(
    private readonly loaders: Record<string, () => Promise<CnnModel>>,
    private readonly options: EnginePoolOptions = {},
  ) {}

  /** The latest report of a gradient program at this size, if the engine made one. */
  placement(engine: EngineName, modelName: string, size: number): PlacementReport | undefined {
    const matching = (this.placements.get(`${engine}|${modelName}`) ?? []).filter((r) => (r.graph.startsWith('gradient|') || r.graph.startsWith('ascent|')) && r.graph.endsWith(`|${size}x${size}`));
    return matching.at(-1);
  }

  model(name: string): Promise<CnnModel> {
    let model = this.models.get(name);
    if (!model) {
      model = this.loaders[name]();
      this.models.set(name, model);
    }
    return model;
  }

  engine(engine: EngineName, modelName: string): Promise<Engine> {
    const key = `${engine}|${modelName}`;
    let created = this.engines.get(key);
    if (!created) {
      const reports: PlacementReport[] = [];
      this.placements.set(key, reports);
      const onPlacement = (report: PlacementReport): void => {
        reports.push(report);
        this.options.onPlacement?.(report);
      };
      created = this.model(modelName).then((model) => createEngine(model, { engine, ...(this.options.device ? { device: this.options.device } : {}), onPlacement }));
      this.engines.set(key, created);
    }
    return created;
  }

  async dispose(): Promise<void> {
    for (const engine of this.engines.values()) await (await engine.catch(() => undefined))?.dispose();
    this.engines.clear();
  }
}

/** The bytes one more step moves between host and device. */
async function bytesOfOneStep(moved: () => BytesMoved, step: () => Promise<unknown>): Promise<BytesMoved> {
  const before = moved();
  await step();
  const after = moved();
  return { toDevice: after.toDevice - before.toDevice, toHost: after.toHost - before.toHost };
}

export function engineCase(pool: EnginePool, options: EngineCaseOptions): BenchCase {
  const { engine: engineName, modelName, layer, size, batch } = options;
  return {
    engine: engineName,
    model: modelName,
    layer,
    size,
    batch,
    async measure() {
      let engine: Engine;
      try {
        engine = await pool.engine(engineName, modelName);
      } catch (error) {
        // A device this engine cannot use here (tfjs on webgpu, cuda not installed): a skipped row, not a failed bench.
        if (error instanceof FilterAtlasError) return { skip: error.message };
        throw error;
      }
      const model = await pool.model(modelName);
      // Before the first step: a step that outgrows the tfjs wasm heap breaks the backend for every later case.
      const skip = wasmHeapSkip(engine.info.device, model, layer, size, batch);
      if (skip) return { skip };
      const { channels } = findLayer(model, layer, [size, size]);
      const random = createRandom(size * 1000 + batch);
      const data = new Float32Array(batch * 3 * size * size);
      for (let i = 0; i < data.length; i++) data[i] = random.next();
      // Image i maximises filter i*7 mod channels, as torch_step.py does.
      const weights = new Float32Array(batch * channels);
      for (let i = 0; i < batch; i++) weights[i * channels + ((i * 7) % channels)] = 1;
      const images = { data, n: batch, height: size, width: size };
      const ascent = engine.startAscent
        ? await engine.startAscent({ params: data, n: batch, height: size, width: size, layer, channelWeights: weights, space: model.preprocessing, frozen: new Array<boolean>(batch).fill(false), adam: { weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 } })
        : undefined;
      try {
        // Adam's first-step scalars at every step: the timing does not depend on them.
        const step = ascent ? () => ascent.step(0.05, Math.sqrt(0.001)) : () => engine.objectiveGradient(images, layer, weights);
        const timed = await timeSteps(step, options.timing);
        const placement = pool.placement(engineName, modelName, size);
        const bytesPerStep = engine.bytesMoved ? await bytesOfOneStep(engine.bytesMoved.bind(engine), step) : undefined;
        return { ...timed, device: engine.info.device, ...(placement ? { placement: placementSummary(placement) } : {}), ...(bytesPerStep ? { bytesPerStep } : {}) };
      } finally {
        await ascent?.dispose();
      }
    },
  };
}
