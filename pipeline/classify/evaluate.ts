/**
 * Top-1 / top-5 accuracy of a classifier on a folder of `<wnid>_<name>.JPEG` images
 * (the ImageNet sample layout). Dataset classes are matched to model outputs by WordNet
 * id (model.labelWnids), so models with their own class order (darknet) score correctly.
 */
import { basename, join, resolve } from 'node:path';
import type { Engine } from '../engine/engine.js';
import { userError } from '../errors.js';
import type { CnnModel } from '../model/graph.js';
import { listImageFiles } from '../dataset/list.js';
import { classProbabilities, topIndices } from './classify.js';

export interface EvaluateOptions {
  /** Images per engine call. @default 8 */
  batch?: number;
  /** Take every `every`-th image (sorted by name): a spread of classes for a quick check. @default 1 */
  every?: number;
  /** Then evaluate at most `limit` images. */
  limit?: number;
  signal?: AbortSignal;
  /** Called after each image with the number done so far. */
  onProgress?: (done: number, total: number) => void;
}

export interface Evaluation {
  images: number;
  top1: number;
  top5: number;
  /** Images whose wnid is not among the model's classes (not counted). */
  skipped: string[];
  /** Images that could not be decoded (not counted), with why. */
  unreadable: Array<{ file: string; error: string }>;
}

const WNID = /^(n\d{8})_/;

export async function evaluateDataset(engine: Engine, model: CnnModel, folder: string, options: EvaluateOptions = {}): Promise<Evaluation> {
  const wnids = model.labelWnids;
  if (!wnids) {
    throw userError({
      where: `model ${model.name}`,
      expected: 'WordNet ids for its output classes (labelWnids) to match dataset classes',
      received: 'a model without them',
      fix: 'Evaluate a built-in ImageNet model (darknet-tiny, mobilenet-v1-0.25, vgg16_bn)',
    });
  }
  const classOf = new Map<string, number>();
  wnids.forEach((wnid, index) => classOf.has(wnid) || classOf.set(wnid, index));
  const root = resolve(folder);
  const every = options.every ?? 1;
  const files = (await listImageFiles(root))
    .filter((file) => WNID.test(file))
    .filter((_, i) => i % every === 0)
    .slice(0, options.limit ?? Infinity);
  if (files.length === 0) {
    throw userError({ where: root, expected: 'images named <wnid>_<name>.JPEG (e.g. n01440764_tench.JPEG)', received: 'none' });
  }
  const skipped = files.filter((file) => !classOf.has(WNID.exec(file)![1]));
  const counted = files.filter((file) => classOf.has(WNID.exec(file)![1]));
  let top1 = 0;
  let top5 = 0;
  let done = 0;
  const unreadable: Evaluation['unreadable'] = [];
  for await (const result of classProbabilities(engine, model, counted.map((file) => join(root, file)), options)) {
    if ('error' in result) {
      unreadable.push({ file: basename(result.path), error: result.error.message });
      options.onProgress?.(++done, counted.length);
      continue;
    }
    const { path, probs } = result;
    const truth = classOf.get(WNID.exec(basename(path))![1])!;
    const best = topIndices(probs, 5).map((index) => wnids[index]);
    if (best[0] === wnids[truth]) top1++;
    if (best.includes(wnids[truth])) top5++;
    options.onProgress?.(++done, counted.length);
  }
  const scored = counted.length - unreadable.length;
  return { images: scored, top1: top1 / Math.max(scored, 1), top5: top5 / Math.max(scored, 1), skipped, unreadable };
}
