/**
 * Engine step cases: one step = Engine.objectiveGradient (forward to the layer + gradient w.r.t.
 * the input images) for a batch, each image maximising its own filter (one-hot channel weights).
 * Engines are created once per (engine, model) and shared by that model's cases.
 */
import { createEngine } from '../pipeline/engine/create.js';
import type { Engine, EngineName } from '../pipeline/engine/engine.js';
import type { CnnModel } from '../pipeline/model/graph.js';
import { findLayer } from '../pipeline/model/layers.js';
import { createRandom } from '../pipeline/util/random.js';
import type { BenchCase, TimingOptions } from './runner.js';
import { timeSteps } from './runner.js';

export interface EngineCaseOptions {
  engine: EngineName;
  /** Name in the rows (e.g. vgg16_bn), matching the PyTorch rows. */
  modelName: string;
  layer: string;
  size: number;
  batch: number;
  /** A reason to skip this case on the given engine device, or undefined to run it. */
  skipOn?: (device: string) => string | undefined;
  timing?: TimingOptions;
}

/** Lazily created models and engines, disposed together at the end of the bench. */
export class EnginePool {
  private readonly models = new Map<string, Promise<CnnModel>>();
  private readonly engines = new Map<string, Promise<Engine>>();

  constructor(private readonly loaders: Record<string, () => Promise<CnnModel>>) {}

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
      created = this.model(modelName).then((model) => createEngine(model, { engine }));
      this.engines.set(key, created);
    }
    return created;
  }

  async dispose(): Promise<void> {
    for (const engine of this.engines.values()) await (await engine.catch(() => undefined))?.dispose();
    this.engines.clear();
  }
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
      const engine = await pool.engine(engineName, modelName);
      const skip = options.skipOn?.(engine.info.device);
      if (skip) return { skip };
      const model = await pool.model(modelName);
      const { channels } = findLayer(model, layer, [size, size]);
      const random = createRandom(size * 1000 + batch);
      const data = new Float32Array(batch * 3 * size * size);
      for (let i = 0; i < data.length; i++) data[i] = random.next();
      // Image i maximises filter i*7 mod channels, as torch_step.py does.
      const weights = new Float32Array(batch * channels);
      for (let i = 0; i < batch; i++) weights[i * channels + ((i * 7) % channels)] = 1;
      const images = { data, n: batch, height: size, width: size };
      const timed = await timeSteps(() => engine.objectiveGradient(images, layer, weights), options.timing);
      return { ...timed, device: engine.info.device };
    },
  };
}
