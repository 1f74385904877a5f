/**
 * The one place that picks an engine. Each engine module is imported lazily so that
 * onnxruntime-node (native) and tfjs load only when chosen.
 */
import { userError } from '../errors.js';
import type { CnnModel } from '../model/graph.js';
import type { Engine, EngineOptions } from './engine.js';

export async function createEngine(model: CnnModel, options: EngineOptions): Promise<Engine> {
  switch (options.engine) {
    case 'ort': {
      const { createOrtEngine } = await import('./ort/engine.js');
      return createOrtEngine(model, options);
    }
    case 'tfjs': {
      const { createTfjsEngine } = await import('./tfjs/engine.js');
      return createTfjsEngine(model, options);
    }
    default:
      throw userError({ where: 'engine', expected: '"ort" or "tfjs"', received: JSON.stringify(options.engine) });
  }
}
