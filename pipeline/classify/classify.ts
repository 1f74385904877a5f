/**
 * Classification with a model's own output: images are decoded and resized as the model's
 * preprocessing says, run in batches, and the output turned into class probabilities
 * (softmax, unless the model already ends in one: mobilenet does, darknet-tiny gives logits).
 */
import type { Engine } from '../engine/engine.js';
import { FilterAtlasError, userError } from '../errors.js';
import type { CnnModel, Graph } from '../model/graph.js';
import { loadImageForModel, type RgbImage } from '../image/load.js';

export interface ClassScore {
  index: number;
  label: string;
  prob: number;
}

export interface Classification {
  image: string;
  top: ClassScore[];
}

/** An image that could not be read: reported, and the others go on. */
export interface Unreadable {
  image: string;
  error: string;
}

export interface ClassifyOptions {
  /** Classes per image, best first. @default 5 */
  top?: number;
  /** Images per engine call. @default 8 */
  batch?: number;
  signal?: AbortSignal;
}

/** Whether the output already is a probability vector: a softmax, possibly followed by reshapes. */
export function endsInSoftmax(graph: Graph): boolean {
  const byName = new Map(graph.nodes.map((n) => [n.name, n]));
  for (let node = byName.get(graph.output); node; node = byName.get(node.inputs[0])) {
    if (node.op.kind === 'softmax') return true;
    if (node.op.kind !== 'flatten' && node.op.kind !== 'identity') return false;
  }
  return false;
}

export function softmax(values: Float32Array): Float32Array {
  let max = -Infinity;
  for (const v of values) max = Math.max(max, v);
  const out = new Float32Array(values.length);
  let total = 0;
  for (let i = 0; i < values.length; i++) total += out[i] = Math.exp(values[i] - max);
  for (let i = 0; i < values.length; i++) out[i] /= total;
  return out;
}

/** Indices of the k largest values, largest first (ties: lower index first). */
export function topIndices(values: ArrayLike<number>, k: number): number[] {
  const best: number[] = [];
  for (let i = 0; i < values.length; i++) {
    if (best.length === k && !(values[i] > values[best[k - 1]])) continue;
    let at = best.length;
    while (at > 0 && values[best[at - 1]] < values[i]) at--;
    best.splice(at, 0, i);
    if (best.length > k) best.pop();
  }
  return best;
}

function checkPositive(value: number, flag: string): number {
  if (!Number.isInteger(value) || value < 1) throw userError({ where: flag, expected: 'a positive integer', received: String(value) });
  return value;
}

/**
 * Probability vectors for a list of images, in order, one batch at a time. Yields per batch so a
 * caller can print as results arrive; an unreadable image yields its error in its place and the
 * rest go on (one broken file must not lose the other results).
 */
export async function* classProbabilities(
  engine: Engine,
  model: CnnModel,
  paths: readonly string[],
  options: { batch?: number; signal?: AbortSignal } = {},
): AsyncGenerator<{ path: string; probs: Float32Array } | { path: string; error: FilterAtlasError }> {
  const batchSize = checkPositive(options.batch ?? 8, 'batch size');
  const [height, width] = model.preprocessing.inputSize;
  const normalise = !endsInSoftmax(model.graph);
  for (let start = 0; start < paths.length; start += batchSize) {
    options.signal?.throwIfAborted();
    const loaded = await Promise.all(
      paths.slice(start, start + batchSize).map((path) =>
        loadImageForModel(path, model.preprocessing).then(
          (image) => ({ path, image }),
          (error: unknown) => {
            if (!(error instanceof FilterAtlasError)) throw error;
            return { path, error };
          },
        ),
      ),
    );
    for (const entry of loaded) if ('error' in entry) yield entry;
    const readable = loaded.filter((entry): entry is { path: string; image: RgbImage } => 'image' in entry);
    if (readable.length === 0) continue;
    const chunk = readable.map((entry) => entry.path);
    const images = readable.map((entry) => entry.image);
    const data = new Float32Array(chunk.length * 3 * height * width);
    images.forEach((image, i) => data.set(image.data, i * image.data.length));
    const output = (await engine.forward({ data, n: chunk.length, height, width }, [model.graph.output])).get(model.graph.output)!;
    if (output.height * output.width !== 1) {
      throw userError({
        where: `model ${model.name} output ${JSON.stringify(model.graph.output)}`,
        expected: 'a vector of class scores (1x1 spatial size)',
        received: `${output.channels} channels of ${output.height}x${output.width}`,
        fix: 'Classification needs a classifier model; probe or visualise layers of this one instead',
      });
    }
    for (let i = 0; i < chunk.length; i++) {
      const scores = output.data.slice(i * output.channels, (i + 1) * output.channels);
      yield { path: chunk[i], probs: normalise ? softmax(scores) : scores };
    }
  }
}

/** Top classes per image as they are computed; unreadable images in between, as they are met. */
export async function* classifyStream(engine: Engine, model: CnnModel, paths: readonly string[], options: ClassifyOptions = {}): AsyncGenerator<Classification | Unreadable> {
  const k = checkPositive(options.top ?? 5, 'top');
  for await (const result of classProbabilities(engine, model, paths, options)) {
    if ('error' in result) {
      yield { image: result.path, error: result.error.message };
      continue;
    }
    const { path, probs } = result;
    const top = topIndices(probs, Math.min(k, probs.length)).map((index) => ({ index, label: model.labels?.[index] ?? `class ${index}`, prob: probs[index] }));
    yield { image: path, top };
  }
}

/** Every image's classification; the first unreadable image is an error (callers that go on use classifyStream). */
export async function classifyImages(engine: Engine, model: CnnModel, paths: readonly string[], options: ClassifyOptions = {}): Promise<Classification[]> {
  const results: Classification[] = [];
  for await (const result of classifyStream(engine, model, paths, options)) {
    if ('error' in result) throw new FilterAtlasError(result.error);
    results.push(result);
  }
  return results;
}
