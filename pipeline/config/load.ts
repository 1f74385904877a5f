import { stat, readFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { FilterAtlasError, userError } from '../errors.js';
import { isAssetName } from '../assets/manifest.js';
import { builtinNames, findBuiltin } from '../model/builtins.js';
import { didYouMean } from '../util/suggest.js';
import { noiseLevelsSchema, type MethodParams } from '../schema/article-params.js';
import { lucidParamsSchema } from '../schema/lucid-params.js';
import { METHOD_KINDS, type Method, type MethodKind } from '../schema/method.js';
import { boundedMethodSchema, checkConfigAliases, checkConfigSize } from './bounds.js';
import { describeIssues, type IssueMessage } from './issues.js';
import { fieldName, lineOf, type FieldPath } from './locate.js';
import { applyOverrides, checkOverrides, type ConfigOverrides } from './overrides.js';
import { atlasIdSchema, configSchema, isReservedAtlasId, RESERVED_ATLAS_IDS, type FilterSelectionConfig, type RawConfig } from './schema.js';

export interface LayerPlan {
  layer: string;
  filters: FilterSelectionConfig;
  /** The methods this layer is visualised with, the first one the layer's main picture (at least one). */
  methods: Method[];
}

/** A validated, fully defaulted config with paths made absolute. */
export interface Config extends Omit<RawConfig, 'layers' | 'method' | 'atlas' | 'title' | 'output'> {
  file: string;
  atlas: string;
  title: string;
  /** Absolute; undefined when the config leaves it to the command (`--output`, else ./output). */
  output?: string;
  layers: LayerPlan[];
  /** The atlas-wide method blocks (`method`: one block or a list), each a kind at most once. */
  methods: Method[];
  /** "file:line: field" of a field, for errors found after loading (an unknown layer, a filter out of range). */
  locate(path: FieldPath): string;
}

/** The output folder when neither the config nor --output names one: `output` in the current folder. */
export const DEFAULT_OUTPUT = 'output';

function configError(file: string, doc: Document, lines: LineCounter, messages: Array<{ path: FieldPath; text: string }>): FilterAtlasError {
  const shown = messages.slice(0, 8).map((m) => `  ${file}:${lineOf(doc, lines, m.path)}: ${m.text}`);
  const more = messages.length > shown.length ? `\n  (and ${messages.length - shown.length} more)` : '';
  const count = messages.length === 1 ? 'a problem' : `${messages.length} problems`;
  return new FilterAtlasError(`${file}: ${count} in the config:\n${shown.join('\n')}${more}\nconfig/default.yaml is a complete, commented example.`);
}

const isRecord = (value: unknown): value is Record<string, unknown> => value !== null && typeof value === 'object' && !Array.isArray(value);

/**
 * The method parameters of a block as written: grey-level noise (0-255, like --noise) converted to the
 * method's fractions, then every field checked. Problems are added to `problems`; undefined if any.
 */
function checkMethod(written: Record<string, unknown>, at: FieldPath, problems: IssueMessage[]): MethodParams | undefined {
  const overrides = { ...written };
  if (written.noise !== undefined) {
    const noise = noiseLevelsSchema.safeParse(written.noise);
    if (!noise.success) {
      problems.push(...describeIssues(noise.error.issues, noiseLevelsSchema, written.noise, [...at, 'noise']));
      delete overrides.noise;
    } else {
      overrides.noise = noise.data;
    }
  }
  const result = boundedMethodSchema.safeParse(overrides);
  if (!result.success) {
    problems.push(...describeIssues(result.error.issues, boundedMethodSchema, overrides, at));
    return undefined;
  }
  return problems.length > 0 ? undefined : result.data;
}

/** The blocks of a `method` field: one block, or a list of them. */
function methodBlocks(value: unknown): Record<string, unknown>[] {
  if (Array.isArray(value)) return value.filter(isRecord);
  return isRecord(value) ? [value] : [];
}

/**
 * One method block as written (`kind` plus the kind's fields; docs/design.md section 2.6), checked by
 * its kind's schema. `kind` defaults to `fallbackKind`. Problems go to `problems`; undefined if any.
 */
function checkMethodBlock(written: Record<string, unknown>, at: FieldPath, problems: IssueMessage[], fallbackKind: MethodKind): Method | undefined {
  const { kind = fallbackKind, ...fields } = written;
  if (!METHOD_KINDS.includes(kind as MethodKind)) {
    problems.push({ path: [...at, 'kind'], text: `${fieldName([...at, 'kind'])}: expected one of ${METHOD_KINDS.map((k) => JSON.stringify(k)).join(', ')}, received ${JSON.stringify(kind)}.` });
    return undefined;
  }
  if (kind === 'article') {
    const params = checkMethod(fields, at, problems);
    return params && { kind, params };
  }
  const result = lucidParamsSchema.safeParse(fields);
  if (!result.success) {
    problems.push(...describeIssues(result.error.issues, lucidParamsSchema, fields, at));
    return undefined;
  }
  return { kind: 'lucid', params: result.data };
}

/** A list of method blocks may name each kind once: two blocks of one kind would draw two pictures under one name. */
function checkDistinctKinds(blocks: Record<string, unknown>[], at: FieldPath, problems: IssueMessage[], fallbackKind: MethodKind): void {
  const seen = new Set<unknown>();
  blocks.forEach((block, j) => {
    const kind = block.kind ?? fallbackKind;
    if (seen.has(kind)) problems.push({ path: [...at, j, 'kind'], text: `${fieldName([...at, j, 'kind'])}: expected each method kind once in the list, received ${JSON.stringify(kind)} again.` });
    seen.add(kind);
  });
}

async function exists(path: string): Promise<boolean> {
  return (await stat(path).catch(() => undefined)) !== undefined;
}

/**
 * A model as written in a config (or given by `--model`): a path relative to `dir` (the config file's
 * folder, or the current folder for the flag) when something is there, else a built-in name. Anything
 * else is an error at the model line (or the flag), not a failed load later.
 */
async function resolveModel(spec: string, dir: string, where: string, relativeTo: string): Promise<string> {
  const path = isAbsolute(spec) ? spec : resolve(dir, spec);
  if (await exists(path)) return path;
  if (findBuiltin(spec)) return spec;
  const hint = didYouMean(spec, builtinNames());
  throw userError({
    where,
    expected: `a built-in model (${builtinNames().join(', ')}) or a path relative to ${relativeTo}`,
    received: `${JSON.stringify(spec)}, which is neither (no ${path})`,
    fix: hint || 'Run `filter-atlas models` for the built-in models, or fix the path.',
  });
}

/** A dataset or probe source: a path relative to the config file when something is there, else an asset (or <asset>/<file>). */
async function resolveSourcePath(source: string, dir: string, where: string, what: string): Promise<string> {
  const path = isAbsolute(source) ? source : resolve(dir, source);
  if (await exists(path)) return path;
  if (isAssetName(source.split('/')[0])) return source;
  throw userError({
    where,
    expected: `${what}: a path relative to the config file, or an asset such as imagenet-sample or photos/chelsea.png`,
    received: `${JSON.stringify(source)} (no ${path})`,
    fix: 'Fix the path, or run `filter-atlas fetch` to list the assets.',
  });
}

/**
 * The config of `file`, validated and fully defaulted. `overrides` (`build --model/--atlas/--title`)
 * replace those fields as if written in the file; they are checked first, before the file is read.
 */
export async function loadConfig(file: string, overrides: ConfigOverrides = {}): Promise<Config> {
  checkOverrides(overrides);
  // A path given on the command line is relative to the current folder, checked before the file is read too.
  const overriddenModel = overrides.model && (await resolveModel(overrides.model.value, process.cwd(), overrides.model.where, 'the current folder'));
  await checkConfigSize(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw userError({ where: file, expected: 'a readable YAML config file', received: (error as NodeJS.ErrnoException).code ?? String(error), fix: 'Check the path; `filter-atlas build` without an argument uses config/default.yaml.' }, error);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    const error = doc.errors[0];
    const line = error.linePos?.[0].line;
    throw userError({ where: line ? `${file}:${line}` : file, expected: 'valid YAML', received: error.message.split('\n')[0], fix: 'Check the indentation and brackets on that line.' });
  }
  checkConfigAliases(file, doc, lines);
  let input: unknown;
  try {
    input = doc.toJS() as unknown;
  } catch (error) {
    // An alias the yaml package refuses (one without its anchor, or its own resource check).
    throw userError({ where: file, expected: 'YAML whose aliases (*name) each follow their anchor (&name)', received: (error as Error).message, fix: 'Write the values out instead of the aliases.' }, error);
  }
  input = applyOverrides(input, overrides);
  const problems: IssueMessage[] = [];
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) problems.push(...describeIssues(parsed.error.issues, configSchema, input));

  // Method blocks are checked as written even when the rest has problems, so one run reports them all.
  const writtenMethod = isRecord(input) ? input.method : undefined;
  const globalIsList = Array.isArray(writtenMethod);
  const globalBlocks = methodBlocks(writtenMethod);
  if (globalIsList) checkDistinctKinds(globalBlocks, ['method'], problems, 'article');
  const globalOf = (kind: unknown): Record<string, unknown> => globalBlocks.find((b) => (b.kind ?? 'article') === kind) ?? {};
  const globalPath = (j: number): FieldPath => (globalIsList ? ['method', j] : ['method']);
  const globalMethods = (globalBlocks.length > 0 ? globalBlocks : [{}]).map((block, j) => checkMethodBlock(block, globalPath(j), problems, 'article'));
  const methods = globalMethods.every((m) => m !== undefined) ? (globalMethods as Method[]) : undefined;
  const layerMethods = (isRecord(input) && Array.isArray(input.layers) ? input.layers : []).map((entry: unknown, i: number): Method[] | undefined => {
    const written = isRecord(entry) ? entry.method : undefined;
    const own = methodBlocks(written);
    if (own.length === 0 || own.every((block) => Object.keys(block).length === 0)) return methods;
    const isList = Array.isArray(written);
    // A layer block without `kind` refines the atlas's block; with several atlas blocks it must say which.
    const fallback = globalBlocks.length <= 1 ? ((globalBlocks[0]?.kind as MethodKind | undefined) ?? 'article') : undefined;
    if (isList) checkDistinctKinds(own, ['layers', i, 'method'], problems, fallback ?? 'article');
    const resolved = own.map((block, j) => {
      const at: FieldPath = isList ? ['layers', i, 'method', j] : ['layers', i, 'method'];
      if (block.kind === undefined && fallback === undefined) {
        problems.push({ path: at, text: `${fieldName(at)}: expected a \`kind\` (${globalBlocks.map((b) => b.kind ?? 'article').join(' or ')}): the atlas lists several methods, so say which one this layer's fields refine.` });
        return undefined;
      }
      const kind = block.kind ?? fallback;
      // A layer's fields merge over the atlas's block of the same kind; report only what the layer itself wrote.
      const mine: IssueMessage[] = [];
      const method = checkMethodBlock({ ...globalOf(kind), ...block, kind }, at, mine, 'article');
      problems.push(...mine.filter((m) => m.path.length <= at.length || String(m.path[at.length]) in block));
      return mine.length > 0 ? undefined : method;
    });
    return resolved.every((m) => m !== undefined) ? (resolved as Method[]) : undefined;
  });
  if (problems.length > 0 || !parsed.success) throw configError(file, doc, lines, problems);
  const raw = parsed.data;
  const locate = (path: FieldPath): string => `${file}:${lineOf(doc, lines, path)}: ${fieldName(path)}`;
  const layers = raw.layers.map((entry, i) => ({ layer: entry.layer, filters: entry.filters, methods: layerMethods[i] ?? methods! }));

  const atlas = raw.atlas ?? basename(file, extname(file));
  // An id from the file name passes the rule `atlas:` does: it becomes the folder <output>/<id>.
  if (!atlasIdSchema.safeParse(atlas).success) {
    throw userError({
      where: `${file}: atlas (from the file name)`,
      expected: 'an atlas id of letters, digits, ".", "_" or "-", starting with a letter or digit',
      received: JSON.stringify(atlas),
      fix: 'Set `atlas:` in the config, or rename the file.',
    });
  }
  if (isReservedAtlasId(atlas)) {
    throw userError({
      where: raw.atlas ? locate(['atlas']) : `${file}: atlas (from the file name)`,
      expected: `an atlas id other than ${RESERVED_ATLAS_IDS.map((id) => JSON.stringify(id)).join(', ')}`,
      received: JSON.stringify(atlas),
      fix: '<output>/diffs, <output>/histories and <output>/model-store hold other things, so the site would skip this atlas. Set another `atlas:` id.',
    });
  }
  // Every path written in the config is relative to the config file.
  const dir = dirname(resolve(file));
  return {
    ...raw,
    file: resolve(file),
    atlas,
    title: raw.title ?? `${raw.model} atlas`,
    model: overriddenModel ?? (await resolveModel(raw.model, dir, locate(['model']), 'the config file')),
    output: raw.output === undefined ? undefined : resolve(dir, raw.output),
    layers,
    methods: methods!,
    dataset: raw.dataset && {
      ...raw.dataset,
      source: await resolveSourcePath(raw.dataset.source, dir, locate(['dataset', 'source']), 'a dataset folder'),
    },
    // Probes keep the name the config gives (atlas.json records it); build resolves it the same way.
    probes: await Promise.all(
      raw.probes.map(async (probe, i) => {
        await resolveSourcePath(probe.image, dir, locate(['probes', i, 'image']), 'an image');
        return probe;
      }),
    ),
    locate,
  };
}
