/**
 * The inputs of a diff: two atlas.json files (or their folders), checked to be comparable (same
 * architecture, same dataset), and each layer's datasetMeans matrix.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { userError } from '../errors.js';
import { canonicalJson } from '../atlas/keys.js';
import { atlasSchema, type Atlas, type AtlasLayer } from '../schema/atlas.js';
import type { MeansMatrix } from './stats.js';
import { commonKind, methodOfKind } from './methods.js';

export interface LoadedAtlas {
  /** Folder every atlas path is relative to. */
  dir: string;
  file: string;
  atlas: Atlas;
}

/** Reads an atlas folder (its atlas.json) or an atlas .json file (e.g. a kept atlas.previous.json). */
export async function readAtlasForDiff(path: string, which: 'A' | 'B'): Promise<LoadedAtlas> {
  const absolute = resolve(path);
  const info = await stat(absolute).catch(() => undefined);
  const file = info?.isDirectory() ? join(absolute, 'atlas.json') : absolute;
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(file, 'utf8'));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw userError(
      { where: `atlas ${which} (${path})`, expected: 'an atlas folder or atlas.json file', received: code === 'ENOENT' ? 'no such file' : error instanceof Error ? error.message : String(error), fix: 'Build it first: filter-atlas build <config>.' },
      error,
    );
  }
  const parsed = atlasSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw userError({ where: `${file} field ${issue.path.join('.') || '(top level)'}`, expected: 'a valid atlas.json (this version of filter-atlas)', received: issue.message, fix: 'Rebuild the atlas with this version: filter-atlas build <config>.' });
  }
  return { dir: dirname(file), file, atlas: parsed.data };
}

const describeLayers = (layers: AtlasLayer[]) => layers.map((l) => `${l.name}:${l.channels}`).join(', ');

/** Refuses atlases that cannot be compared unit by unit; returns warnings for what only weakens signals. */
export function checkComparable(a: LoadedAtlas, b: LoadedAtlas): string[] {
  const la = a.atlas.layers;
  const lb = b.atlas.layers;
  const same = la.length === lb.length && la.every((l, i) => l.name === lb[i].name && l.channels === lb[i].channels);
  if (!same) {
    throw userError({
      where: `filter-atlas diff ${a.file} ${b.file}`,
      expected: 'two atlases of the same architecture with the same layers (names and channel counts)',
      received: `A: ${describeLayers(la)}; B: ${describeLayers(lb)}`,
      fix: 'Build both atlases from configs that list the same layers, from versions of the same model.',
    });
  }
  for (const [side, loaded] of [['A', a], ['B', b]] as const) {
    if (!loaded.atlas.dataset) {
      throw userError({ where: `atlas ${side} (${loaded.file})`, expected: 'a dataset scan (the correlation and top-k signals need it)', received: 'an atlas built without `dataset:`', fix: 'Add `dataset: {source: imagenet-sample}` to its config and rebuild.' });
    }
    const missing = loaded.atlas.layers.filter((l) => !l.datasetMeans).map((l) => l.name);
    if (missing.length) throw userError({ where: `atlas ${side} (${loaded.file})`, expected: 'datasetMeans for every layer', received: `none for ${missing.join(', ')}`, fix: 'Rebuild the atlas so the dataset scan completes.' });
  }
  const da = a.atlas.dataset!;
  const db = b.atlas.dataset!;
  if (da.digest !== db.digest) {
    throw userError({
      where: `filter-atlas diff ${a.file} ${b.file}`,
      expected: 'two atlases scanned on the same dataset (same dataset digest)',
      received: `A: ${da.name} ${da.digest.slice(0, 16)}..., B: ${db.name} ${db.digest.slice(0, 16)}...`,
      fix: 'Use the same `dataset:` section (source and limit) in both configs.',
    });
  }
  const [ia, ib] = [a.atlas.model.inputSize, b.atlas.model.inputSize];
  if (ia[0] !== ib[0] || ia[1] !== ib[1]) {
    throw userError({ where: `filter-atlas diff ${a.file} ${b.file}`, expected: 'the same model input size', received: `A: ${ia.join('x')}, B: ${ib.join('x')}` });
  }
  const warnings: string[] = [];
  if (a.atlas.engine.name !== b.atlas.engine.name) warnings.push(`the atlases were built with different engines (${a.atlas.engine.name}, ${b.atlas.engine.name}): visualisations differ for that reason alone, so SSIM means less`);
  // Like with like (methods.ts): each layer's pictures are compared by a method both atlases used, and
  // that method's parameters (the layer's own, else the atlas's) must match for SSIM to mean much.
  const unlike = la.filter((layer, i) => commonKind(layer, lb[i]) === undefined).map((layer) => layer.name);
  if (unlike.length > 0) {
    warnings.push(`${unlike.length === 1 ? 'layer' : 'layers'} ${unlike.join(', ')} ${unlike.length === 1 ? 'shares' : 'share'} no visualisation method in the two atlases (e.g. article against lucid): their pictures are not compared (no cross-activation, no SSIM)`);
  }
  const layerParams = (atlas: Atlas, layer: AtlasLayer, kind: string) => canonicalJson(methodOfKind(layer, atlas.method, kind as 'article')?.params ?? null);
  const differing = la.filter((layer, i) => {
    const kind = commonKind(layer, lb[i]);
    return kind !== undefined && layerParams(a.atlas, layer, kind) !== layerParams(b.atlas, lb[i], kind);
  });
  const sameMainKind = (a.atlas.method.kind ?? 'article') === (b.atlas.method.kind ?? 'article');
  if (sameMainKind && canonicalJson(a.atlas.method.params) !== canonicalJson(b.atlas.method.params)) {
    warnings.push('the atlases used different method parameters: visualisations differ for that reason alone, so SSIM means less');
  } else if (differing.length > 0) {
    warnings.push(`layer${differing.length === 1 ? '' : 's'} ${differing.map((l) => l.name).join(', ')} used different method parameters in the two atlases: their visualisations differ for that reason alone, so SSIM means less`);
  }
  if (!a.atlas.complete || !b.atlas.complete) warnings.push('an atlas is incomplete (its build was interrupted): some units may be missing');
  return warnings;
}

/** Rows of A's and B's datasetMeans that hold the same image (same order in practice: same digest). */
export function sharedRows(a: Atlas, b: Atlas): { rowsA: number[]; rowsB: number[]; files: string[] } {
  const indexB = new Map(b.dataset!.images.map((file, i) => [file, i]));
  const rowsA: number[] = [];
  const rowsB: number[] = [];
  const files: string[] = [];
  a.dataset!.images.forEach((file, i) => {
    const j = indexB.get(file);
    if (j === undefined) return;
    rowsA.push(i);
    rowsB.push(j);
    files.push(file);
  });
  return { rowsA, rowsB, files };
}

/** A layer's images x channels float32 LE matrix, checked against the atlas's image count. */
export async function readMeans(loaded: LoadedAtlas, layer: AtlasLayer): Promise<MeansMatrix> {
  const path = join(loaded.dir, layer.datasetMeans!);
  const rows = loaded.atlas.dataset!.images.length;
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw userError({ where: path, expected: `the datasetMeans of layer ${layer.name}`, received: (error as NodeJS.ErrnoException).code ?? String(error), fix: 'Rebuild the atlas so its files are complete.' }, error);
  }
  if (bytes.length !== rows * layer.channels * 4) {
    throw userError({ where: path, expected: `${rows} images x ${layer.channels} channels of float32 (${rows * layer.channels * 4} bytes)`, received: `${bytes.length} bytes`, fix: 'Rebuild the atlas.' });
  }
  const data = new Float32Array(rows * layer.channels);
  for (let i = 0; i < data.length; i++) data[i] = bytes.readFloatLE(4 * i);
  return { data, rows, channels: layer.channels };
}
