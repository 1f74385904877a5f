import { createHash } from 'node:crypto';
import type { EngineInfo } from '../engine/engine.js';
import type { Preprocessing } from '../model/graph.js';
import type { MethodParams } from '../schema/article-params.js';
import type { LucidParams } from '../schema/lucid-params.js';

/** JSON with sorted object keys, so equal content always hashes the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : v,
  );
}

/**
 * Content key of an artifact: a hash of everything that determines it. Bump the version
 * when the code that produces an artifact changes its result, so old artifacts are not reused.
 */
export function contentKey(kind: string, parts: Record<string, unknown>): string {
  return `${kind}-${createHash('sha256').update(canonicalJson({ v: 1, kind, ...parts })).digest('hex').slice(0, 20)}`;
}

/**
 * What contentKey makes: `<kind>-<20 hex digits>`. A key read from a file this process did not write
 * (a shard's manifest) must have this form before it names `records/<key>.json`.
 */
export const RECORD_KEY_PATTERN = /^[a-z]+-[0-9a-f]{20}$/;

/**
 * The version of the code behind each kind of artifact: bump one when its code changes what it
 * writes, so records of the older code are not reused. viz 2: the low-contrast flag per colour
 * plane; 3: one start noise per seed, not per filter index. scan 2, probe 2: photos resized by
 * image/resize.ts instead of sharp (the browser probe's resize); examples 2: crops and thumbnails
 * 128 px at WebP quality 65; web 2: thumbnails at quality 70, the full WebP at 85, no 2x thumbnail
 * for a picture no larger than it; web 3: the full WebP at 75; examples 3: crops and
 * thumbnails at quality 50, in a folder of their version (both for the site's 100 MB budget); probe 3:
 * the chart's ticks in scientific notation below steps of 1e-6 (they all read 0.000000 before);
 * viz 4: no 160 px thumbnail, the PNG at zlib level 4 (same pixels), the main method's web images
 * written with the picture (a record of viz 3 names a thumbnail no page uses any more); lucid 2: the
 * step's work outside the engine in float32 WebAssembly kernels (lucid/kernels.ts), the same maps
 * within float32 rounding but not the same bits, so not the same pictures after many steps.
 */
export const CODE_VERSIONS = { viz: 4, scan: 2, examples: 3, probe: 3, web: 3, connections: 1, probeModel: 1, lucid: 2 } as const;

/**
 * What runs the maths: results depend on it through float rounding (provider or backend, version,
 * thread count), so every computed artifact's key holds the engine's device string, not only its name.
 */
function engineParts(engine: EngineInfo): { engine: string; device: string } {
  return { engine: engine.name, device: engine.device };
}

export interface VisualKeyParts {
  weights: string;
  preprocessing: Preprocessing;
  layer: string;
  filter: number;
  /** The filters optimised together with this one (results depend on the batch). */
  batch: readonly number[];
  method: VisualMethodParts;
  seed: number;
  engine: EngineInfo;
}

/**
 * An article picture's key holds exactly what it held before the lucid method existed (no `kind`), so
 * every article record of an existing atlas is reused and its bytes stay the same. A lucid picture's
 * key adds the kind and its own code version.
 */
export type VisualMethodParts = { kind: 'article'; params: MethodParams } | { kind: 'lucid'; params: LucidParams };

export function visualKey({ engine, method, ...parts }: VisualKeyParts): string {
  if (method.kind === 'article') return contentKey('viz', { code: CODE_VERSIONS.viz, ...parts, params: method.params, ...engineParts(engine) });
  return contentKey('viz', { code: CODE_VERSIONS.viz, kind: 'lucid', lucidCode: CODE_VERSIONS.lucid, ...parts, params: method.params, ...engineParts(engine) });
}

export interface ScanKeyParts {
  weights: string;
  preprocessing: Preprocessing;
  /** The dataset digest (contents and classes.tsv of the listed images). */
  dataset: string;
  layers: readonly string[];
  topK: number;
  engine: EngineInfo;
}

export function scanKey({ engine, layers, ...parts }: ScanKeyParts): string {
  return contentKey('scan', { code: CODE_VERSIONS.scan, ...parts, layers: [...layers].sort(), ...engineParts(engine) });
}

export interface ExamplesKeyParts {
  /** The scan's key: model, dataset and engine are in it. */
  scan: string;
  layer: string;
  filter: number;
  /** Where the dataset's labels come from, when not classes.tsv (labels from file names are newer than older records). */
  labels?: 'file-names';
}

export function examplesKey(parts: ExamplesKeyParts): string {
  return contentKey('examples', { code: CODE_VERSIONS.examples, ...parts });
}

/**
 * The examples key of a filter of a scan: the one derivation for the dataset stage that writes the
 * record and the assembly that reads it (assembly-inputs.ts, for build and merge alike).
 */
export function filterExamplesKey(scan: string, layer: string, filter: number, labelsFromFileNames: boolean): string {
  return examplesKey({ scan, layer, filter, ...(labelsFromFileNames ? { labels: 'file-names' as const } : {}) });
}

export interface ProbeKeyParts {
  /** The model's name and labels are drawn into the chart, so they are inputs too. */
  model: string;
  labels: readonly string[] | undefined;
  weights: string;
  preprocessing: Preprocessing;
  /** sha256 of the photo's bytes, and its file name (the chart's title shows it). */
  photo: string;
  photoName: string;
  layer: string;
  top: number;
  engine: EngineInfo;
}

export function probeKey({ engine, labels, ...parts }: ProbeKeyParts): string {
  const labelDigest = labels ? createHash('sha256').update(labels.join('\n')).digest('hex') : null;
  return contentKey('probe', { code: CODE_VERSIONS.probe, ...parts, labels: labelDigest, ...engineParts(engine) });
}

/** Web versions of a visualisation: the visualisation's key determines the PNG they are made from. */
export function webKey(parts: { viz: string }): string {
  return contentKey('web', { code: CODE_VERSIONS.web, ...parts });
}

export interface ConnectionsKeyParts {
  /** The scan's key: model, dataset, engine and every filter's top images are in it. */
  scan: string;
  layer: string;
  filter: number;
  /** The earlier layer whose channels are attributed. */
  from: string;
  /** How many of the filter's top images are averaged over. */
  images: number;
  engine: EngineInfo;
}

export function connectionsKey({ engine, ...parts }: ConnectionsKeyParts): string {
  return contentKey('conn', { code: CODE_VERSIONS.connections, ...parts, ...engineParts(engine) });
}

export interface ProbeModelKeyParts {
  weights: string;
  preprocessing: Preprocessing;
  /** The visualised layers, whose outputs the graph returns. */
  layers: readonly string[];
}

export function probeModelKey({ layers, ...parts }: ProbeModelKeyParts): string {
  return contentKey('probemodel', { code: CODE_VERSIONS.probeModel, ...parts, layers: [...layers] });
}
