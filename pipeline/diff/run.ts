/**
 * `filter-atlas diff`: two atlases of one architecture -> diff.json. Per layer: align the dataset
 * matrices, correlate every A unit with every B unit, match units (permutations), then per unit
 * the four signals, the change score and a status; finally rank every unit of every layer.
 */
import { dirname, join, relative, sep } from 'node:path';
import type { AtlasFilter } from '../schema/atlas.js';
import type { Engine, EngineName, EngineOptions } from '../engine/engine.js';
import type { DeviceName } from '../schema/device.js';
import { FilterAtlasError, userError } from '../errors.js';
import { findStoredModel, modelStoreDir } from '../atlas/model-store.js';
import type { CnnModel } from '../model/graph.js';
import { checkComparable, readAtlasForDiff, readMeans, sharedRows, type LoadedAtlas } from './read.js';
import { DEFAULT_MATCH, matchUnits } from './match.js';
import { DIFF_SCHEMA_VERSION, diffSchema, FILTER_STATUSES, type AtlasDiff, type DiffSide, type FilterDiff, type LayerDiff } from './schema.js';
import { bothDead, changeScore, classify, components, relativeResponse, SCORE_THRESHOLDS, SCORE_WEIGHTS, SCORING_DESCRIPTION } from './score.js';
import { columnStats, correlationMatrix, selectRows, topOverlap, topRows, type ColumnStats, type MeansMatrix } from './stats.js';
import { visualSignals, type VisualPair } from './visual.js';
import { commonKind, pictureOf } from './methods.js';

type PictureFields = NonNullable<ReturnType<typeof pictureOf>>;

export interface DiffDeps {
  loadModel(spec: string, options: { arch?: 'vgg16_bn' | 'vgg16'; signal?: AbortSignal }): Promise<CnnModel>;
  createEngine(model: CnnModel, options: EngineOptions): Promise<Engine>;
  log(message: string): void;
  now(): Date;
}

export interface DiffInput {
  /** Atlas folders or atlas.json files. */
  a: string;
  b: string;
  /** The folder diff.json will be written to: paths in the diff are relative to it. */
  out: string;
  engine?: EngineName;
  threads?: number;
  /** @default 'auto' */
  device?: DeviceName;
  /** Model specs replacing the atlases' own `model.spec` (when an atlas moved to another machine). */
  modelA?: string;
  modelB?: string;
  signal?: AbortSignal;
}

/** The default diff folder: output/diffs/<A id>__<B id>. */
export function defaultDiffDir(output: string, idA: string, idB: string): string {
  return join(output, 'diffs', `${idA}__${idB}`);
}

const DEFAULT_TOP_K = 9;

/** A side's model with the recorded weights, or why there is none (the diff then leaves out cross-activation). */
type ResolvedModel = { model: CnnModel; spec: string } | { missing: string };

const firstSentence = (message: string) => message.split('\n')[0].slice(0, 300);

/**
 * The model an atlas was built with, checked by its weights digest: the recorded spec when it still
 * holds those weights, else the entry of the model store beside the atlas (model-store.ts), else
 * --model-a/--model-b. An override that holds other weights is an error (the user named it); the
 * others that do not resolve are reasons, said in diff.json when no source is left.
 */
async function resolveAtlasModel(loaded: LoadedAtlas, which: 'A' | 'B', override: string | undefined, deps: DiffDeps, signal?: AbortSignal): Promise<ResolvedModel> {
  const { model: recorded } = loaded.atlas;
  const arch = recorded.architecture === 'vgg16_bn' || recorded.architecture === 'vgg16' ? recorded.architecture : undefined;
  const short = (digest: string) => `sha256 ${digest.slice(0, 12)}...`;
  const reasons: string[] = [];
  const attempt = async (spec: string, label: string): Promise<CnnModel | undefined> => {
    let model: CnnModel;
    try {
      model = await deps.loadModel(spec, { arch, signal });
    } catch (error) {
      if (!(error instanceof FilterAtlasError)) throw error;
      reasons.push(`${label} ${spec} does not load (${firstSentence(error.message)})`);
      return undefined;
    }
    if (model.weightsDigest === recorded.weightsDigest) return model;
    reasons.push(`${label} ${spec} now holds other weights (${short(model.weightsDigest)})`);
    return undefined;
  };
  // An override that the recorded spec or the store made unnecessary is not loaded, but said.
  const found = (model: CnnModel, spec: string, label: string): ResolvedModel => {
    if (override !== undefined) deps.log(`diff: --model-${which.toLowerCase()} ${override} not used: ${label} ${spec} holds the weights atlas ${which} was built with`);
    return { model, spec };
  };
  const fromSpec = await attempt(recorded.spec, 'the recorded model');
  if (fromSpec) return found(fromSpec, recorded.spec, 'the recorded model');
  const store = dirname(loaded.dir);
  const stored = await findStoredModel(store, recorded.weightsDigest);
  if (stored) {
    const model = await attempt(stored, 'the model store entry');
    if (model) return found(model, stored, 'the model store entry');
  } else {
    reasons.push(`the model store ${modelStoreDir(store)} has no entry ${recorded.weightsDigest.slice(0, 12)}...`);
  }
  if (override !== undefined) {
    const model = await attempt(override, `--model-${which.toLowerCase()}`);
    if (model) return { model, spec: override };
    throw userError({
      where: `--model-${which.toLowerCase()} ${override}`,
      expected: `the weights the atlas was built with (atlas ${which}: ${short(recorded.weightsDigest)})`,
      received: reasons[reasons.length - 1],
      fix: `Pass the model file atlas ${which} was built with, or leave --model-${which.toLowerCase()} out to diff without cross-activation.`,
    });
  }
  return { missing: `atlas ${which}'s weights (${short(recorded.weightsDigest)}) are not at hand: ${reasons.join('; ')}; no --model-${which.toLowerCase()} given` };
}

/** Node names, op kinds and weight shapes: what must agree for units to be comparable. */
function architectureOf(model: CnnModel): string {
  return model.graph.nodes.map((n) => `${n.name}:${n.op.kind}:${'weight' in n.op ? n.op.weight.shape.join('x') : ''}`).join(';');
}

function isDead(filter: AtlasFilter, stats: ColumnStats, channel: number): boolean {
  if (stats.std[channel] === 0) return true;
  return filter.status === 'dead' && (filter.stats?.activeFraction ?? 0) === 0;
}

interface LayerContext {
  means: MeansMatrix;
  stats: ColumnStats;
  top: Int32Array[];
  files: string[];
}

/**
 * The small picture a unit's row shows: a main picture's grid thumbnail (its web images), else the
 * PNG (a layer's other method has no web images), or the 160 px thumbnail of an atlas built before viz code version 4.
 */
function thumbnailOf(picture: PictureFields): string | undefined {
  return picture.web?.thumb1x ?? picture.thumb ?? picture.image;
}

/** One side of a compared unit; its picture is the compared method's (the filter's own fields when there is none in common). */
function side(ctx: LayerContext, filter: AtlasFilter, picture: PictureFields | undefined, channel: number, path: (atlasRelative: string) => string): DiffSide {
  const thumbs = new Map((filter.top ?? []).map((t) => [t.file, t]));
  const shown = picture ?? filter;
  return {
    filter: filter.filter,
    status: shown.status,
    dead: isDead({ ...filter, ...shown }, ctx.stats, channel),
    ...(shown.image ? { image: path(shown.image) } : {}),
    ...(thumbnailOf(shown) ? { thumb: path(thumbnailOf(shown)!) } : {}),
    activation: shown.activation,
    datasetMean: ctx.stats.mean[channel],
    datasetStd: ctx.stats.std[channel],
    top: Array.from(ctx.top[channel], (row) => {
      const file = ctx.files[row];
      const known = thumbs.get(file);
      return { file, ...(known?.label ? { label: known.label } : {}), mean: ctx.means.data[row * ctx.means.channels + channel], ...(known ? { thumb: path(known.thumb) } : {}) };
    }),
  };
}

export async function runDiff(input: DiffInput, deps: DiffDeps): Promise<AtlasDiff> {
  const started = performance.now();
  const a = await readAtlasForDiff(input.a, 'A');
  const b = await readAtlasForDiff(input.b, 'B');
  const warnings = checkComparable(a, b);
  const resolvedA = await resolveAtlasModel(a, 'A', input.modelA, deps, input.signal);
  const resolvedB = await resolveAtlasModel(b, 'B', input.modelB, deps, input.signal);
  const omitted: AtlasDiff['omitted'] = [];
  let engines: { a: Engine; b: Engine } | undefined;
  if ('model' in resolvedA && 'model' in resolvedB) {
    const [modelA, modelB] = [resolvedA.model, resolvedB.model];
    if (architectureOf(modelA) !== architectureOf(modelB)) {
      throw userError({ where: `filter-atlas diff ${a.file} ${b.file}`, expected: 'two models of the same architecture (same layers, ops and weight shapes)', received: `${modelA.name} and ${modelB.name}, which differ`, fix: 'Diff versions of one model (retrained, fine-tuned, quantised).' });
    }
    const engineOptions: EngineOptions = { engine: input.engine ?? 'ort', threads: input.threads, ...(input.device ? { device: input.device } : {}) };
    const engineA = await deps.createEngine(modelA, engineOptions);
    if (engineA.info.selection) deps.log(engineA.info.selection);
    // The same weights need one engine (a diff of an atlas against itself, or against a rebuild).
    engines = { a: engineA, b: modelB.weightsDigest === modelA.weightsDigest ? engineA : await deps.createEngine(modelB, engineOptions) };
  } else {
    // Without a model the architectures are compared by the atlases' layers alone (checkComparable).
    const missing = [resolvedA, resolvedB].flatMap((r) => ('missing' in r ? [r.missing] : []));
    const reason =
      `${missing.join('. ')}. Cross-activation runs each model on the other's pictures, so it needs both; ` +
      'every score is the renormalised mean of correlation, top-k overlap and SSIM. Keep the model store (<output>/model-store, written by build) or pass --model-a/--model-b to get it back.';
    omitted.push({ signal: 'cross', reason });
    deps.log(`diff: left out the cross-activation column: ${reason}`);
  }
  const { rowsA, rowsB, files } = sharedRows(a.atlas, b.atlas);
  const toOut = (dir: string) => (p: string) => relative(input.out, join(dir, p)).split(sep).join('/');

  const layers: LayerDiff[] = [];
  const filters: Omit<FilterDiff, 'rank'>[] = [];
  try {
    for (const [index, layerA] of a.atlas.layers.entries()) {
      input.signal?.throwIfAborted();
      const layerB = b.atlas.layers[index];
      const meansA = selectRows(await readMeans(a, layerA), rowsA);
      const meansB = selectRows(await readMeans(b, layerB), rowsB);
      const statsA = columnStats(meansA);
      const statsB = columnStats(meansB);
      const correlation = correlationMatrix(meansA, meansB, statsA, statsB);
      const matching = matchUnits(correlation, layerA.channels);
      const k = Math.min(layerA.filters.find((f) => f.top?.length)?.top?.length ?? DEFAULT_TOP_K, files.length);
      const ctxA: LayerContext = { means: meansA, stats: statsA, top: topRows(meansA, k), files };
      const ctxB: LayerContext = { means: meansB, stats: statsB, top: topRows(meansB, k), files };

      // Like with like (methods.ts): the pictures of a method both atlases have, or none.
      const kind = commonKind(layerA, layerB);
      const pictureA = (f: AtlasFilter) => (kind === undefined ? undefined : pictureOf(f, layerA, kind));
      const pictureB = (f: AtlasFilter) => (kind === undefined ? undefined : pictureOf(f, layerB, kind));
      const byFilterB = new Map(layerB.filters.map((f) => [f.filter, f]));
      const compared: Array<{ fa: AtlasFilter; fb: AtlasFilter; j: number }> = [];
      const notCompared: number[] = [];
      for (const fa of layerA.filters) {
        const j = matching.toB[fa.filter];
        const fb = byFilterB.get(j);
        if (fb) compared.push({ fa, fb, j });
        else notCompared.push(fa.filter);
      }
      const pairs: VisualPair[] = compared.map(({ fa, fb, j }) => {
        const [pa, pb] = [pictureA(fa), pictureB(fb)];
        return {
          a: fa.filter,
          b: j,
          ...(pa?.image && pa.status !== 'failed' ? { imageA: join(a.dir, pa.image) } : {}),
          ...(pb?.image && pb.status !== 'failed' ? { imageB: join(b.dir, pb.image) } : {}),
        };
      });
      const visual = await visualSignals(pairs, layerA.name, engines, { signal: input.signal });

      const layerFilters = compared.map(({ fa, fb, j }, n): Omit<FilterDiff, 'rank'> => {
        const i = fa.filter;
        const unitA = { mean: statsA.mean[i], std: statsA.std[i] };
        const unitB = { mean: statsB.mean[j], std: statsB.std[j] };
        const cross = visual[n].cross;
        const signals = {
          correlation: correlation[i * layerA.channels + j],
          topOverlap: topOverlap(ctxA.top[i], ctxB.top[j]),
          ...(cross
            ? { cross: { ...cross, responseBtoA: relativeResponse(cross.aOnA, cross.bOnA, unitA, unitB), responseAtoB: relativeResponse(cross.bOnB, cross.aOnB, unitB, unitA) } }
            : {}),
          ...(visual[n].ssim !== undefined ? { ssim: visual[n].ssim } : {}),
        };
        const parts = components(signals, unitA, unitB);
        const sideA = side(ctxA, fa, pictureA(fa), i, toOut(a.dir));
        const sideB = side(ctxB, fb, pictureB(fb), j, toOut(b.dir));
        // Two flat pictures (or two constant units) have nothing to compare: "both dead", not a score.
        const score = bothDead(sideA, sideB) ? 0 : changeScore(parts);
        return { layer: layerA.name, score, status: classify(score, sideA, sideB), a: sideA, b: sideB, signals, components: parts };
      });
      filters.push(...layerFilters);

      const counts = Object.fromEntries(FILTER_STATUSES.map((s) => [s, layerFilters.filter((f) => f.status === s).length])) as LayerDiff['counts'];
      const scores = layerFilters.map((f) => f.score);
      layers.push({
        name: layerA.name,
        channels: layerA.channels,
        compared: layerFilters.length,
        notCompared,
        counts,
        meanScore: scores.length ? scores.reduce((x, y) => x + y, 0) / scores.length : 0,
        maxScore: scores.length ? Math.max(...scores) : 0,
        status: counts.changed + counts.died + counts.revived > 0 ? 'changed' : counts.drifted > 0 ? 'drifted' : 'unchanged',
        permuted: matching.permuted,
        matches: matching.matches,
        matchedCorrelation: matching.matchedCorrelation,
        identityCorrelation: matching.identityCorrelation,
      });
      // The short form; the summary (report.ts explainLayer) says it in full.
      deps.log(
        `${layerA.name}: ${layerFilters.length} of ${layerA.filters.length} selected units compared` +
          (notCompared.length ? `; ${notCompared.length} not compared: their match in B is not in B's filter selection` : '') +
          (matching.matches.length ? `; ${matching.matches.length} of ${layerA.channels} units matched to another channel (${matching.permuted ? 'reordered, not changed' : 'kept as matches'})` : ''),
      );
    }
  } finally {
    await engines?.a.dispose();
    if (engines && engines.b !== engines.a) await engines.b.dispose();
  }

  const order = new Map(layers.map((l, i) => [l.name, i]));
  const ranked = [...filters]
    .sort((x, y) => y.score - x.score || order.get(x.layer)! - order.get(y.layer)! || x.a.filter - y.a.filter)
    .map((f, i): FilterDiff => ({ ...f, rank: i + 1 }));
  const count = (status: string) => ranked.filter((f) => f.status === status).length;
  const ref = (loaded: LoadedAtlas) => ({
    id: loaded.atlas.id,
    title: loaded.atlas.title,
    path: relative(input.out, loaded.dir).split(sep).join('/') || '.',
    createdAt: loaded.atlas.createdAt,
    model: { name: loaded.atlas.model.name, spec: loaded.atlas.model.spec, version: loaded.atlas.model.version, weightsDigest: loaded.atlas.model.weightsDigest },
    engine: loaded.atlas.engine.device,
  });
  return diffSchema.parse({
    schemaVersion: DIFF_SCHEMA_VERSION,
    createdAt: deps.now().toISOString(),
    a: ref(a),
    b: ref(b),
    dataset: { name: a.atlas.dataset!.name, digest: a.atlas.dataset!.digest, images: files.length },
    scoring: {
      description: SCORING_DESCRIPTION,
      weights: { ...SCORE_WEIGHTS },
      thresholds: { ...SCORE_THRESHOLDS },
      matching: {
        description: 'Units are matched by maximising summed activation correlation (Jonker-Volgenant); a cycle of the resulting permutation is kept only if each of its pairs correlates at least minCorrelation and it beats identity by minGain on average.',
        ...DEFAULT_MATCH,
      },
    },
    summary: {
      unchanged: count('unchanged'),
      drifted: count('drifted'),
      changed: count('changed'),
      died: count('died'),
      revived: count('revived'),
      dead: count('dead'),
      total: ranked.length,
      changedLayers: layers.filter((l) => l.status === 'changed').map((l) => l.name),
      driftedLayers: layers.filter((l) => l.status === 'drifted').map((l) => l.name),
      permutedLayers: layers.filter((l) => l.permuted).map((l) => l.name),
    },
    layers,
    filters: ranked,
    warnings,
    omitted,
    seconds: (performance.now() - started) / 1000,
  });
}
