import { readFile } from 'node:fs/promises';
import { basename, dirname, extname, isAbsolute, resolve } from 'node:path';
import { LineCounter, parseDocument, type Document } from 'yaml';
import type { z } from 'zod';
import { userError } from '../errors.js';
import type { MethodParams } from '../visualize/params.js';
import { boundedMethodSchema, checkConfigSize } from './bounds.js';
import { configSchema, type FilterSelectionConfig, type RawConfig } from './schema.js';

export interface LayerPlan {
  layer: string;
  filters: FilterSelectionConfig;
  method: MethodParams;
}

/** A validated, fully defaulted config with paths made absolute. */
export interface Config extends Omit<RawConfig, 'layers' | 'method' | 'atlas' | 'title'> {
  file: string;
  atlas: string;
  title: string;
  layers: LayerPlan[];
  method: MethodParams;
}

type Path = readonly PropertyKey[];

/** "file:line: field: message" for the deepest YAML node that exists on the path. */
function locate(file: string, doc: Document, lines: LineCounter, path: Path): string {
  for (let depth = path.length; depth >= 0; depth--) {
    const node = doc.getIn(path.slice(0, depth) as unknown[], true) as { range?: [number, number, number] } | undefined;
    if (node && typeof node === 'object' && node.range) return `${file}:${lines.linePos(node.range[0]).line}`;
  }
  return file;
}

function fieldName(path: Path): string {
  return path.length === 0 ? '(top level)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

function issuesToError(file: string, doc: Document, lines: LineCounter, issues: z.core.$ZodIssue[], prefix: Path = []) {
  const messages = issues.slice(0, 5).map((issue) => {
    const path = [...prefix, ...issue.path];
    return `${locate(file, doc, lines, path)}: field ${fieldName(path)}: ${issue.message}`;
  });
  const more = issues.length > 5 ? `\n(and ${issues.length - 5} more)` : '';
  return userError({ where: file, expected: 'a valid filter-atlas config', received: `\n${messages.join('\n')}${more}`, fix: 'See config/default.yaml for a complete example.' });
}

function looksLikePath(spec: string): boolean {
  return spec.includes('/') || ['.onnx', '.json', '.safetensors'].includes(extname(spec));
}

export async function loadConfig(file: string): Promise<Config> {
  await checkConfigSize(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw userError({ where: file, expected: 'a readable YAML config file', received: (error as NodeJS.ErrnoException).code ?? String(error) }, error);
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: true });
  if (doc.errors.length > 0) {
    throw userError({ where: file, expected: 'valid YAML', received: doc.errors[0].message });
  }
  const parsed = configSchema.safeParse(doc.toJS());
  if (!parsed.success) throw issuesToError(file, doc, lines, parsed.error.issues);
  const raw = parsed.data;

  const parseMethod = (overrides: Record<string, unknown>, at: Path): MethodParams => {
    const result = boundedMethodSchema.safeParse(overrides);
    if (!result.success) throw issuesToError(file, doc, lines, result.error.issues, at);
    return result.data;
  };
  const method = parseMethod(raw.method, ['method']);
  const layers = raw.layers.map((entry, i) => ({
    layer: entry.layer,
    filters: entry.filters,
    method: Object.keys(entry.method).length === 0 ? method : parseMethod({ ...raw.method, ...entry.method }, ['layers', i, 'method']),
  }));

  const dir = dirname(resolve(file));
  const fromConfig = (p: string) => (isAbsolute(p) ? p : resolve(dir, p));
  const atlas = raw.atlas ?? basename(file, extname(file));
  return {
    ...raw,
    file: resolve(file),
    atlas,
    title: raw.title ?? `${raw.model} atlas`,
    model: looksLikePath(raw.model) ? fromConfig(raw.model) : raw.model,
    output: resolve(raw.output),
    layers,
    method,
    dataset: raw.dataset && {
      ...raw.dataset,
      source: raw.dataset.source.includes('/') ? fromConfig(raw.dataset.source) : raw.dataset.source,
    },
  };
}
