/**
 * zod's complaints about a config, rewritten for the person who wrote the file: one line per
 * problem, "file:line: field: expected ..., received <the value written>. <how to fix>", with the
 * names the field allows and the closest one for a misspelt field ("did you mean").
 */
import type { z } from 'zod';
import { describeValue } from '../errors.js';
import { didYouMean } from '../util/suggest.js';
import { fieldName, valueAt, type FieldPath } from './locate.js';

type Issue = z.core.$ZodIssue;
type AnySchema = z.core.$ZodType;

interface Def {
  type: string;
  shape?: Record<string, AnySchema>;
  innerType?: AnySchema;
  element?: AnySchema;
  options?: AnySchema[];
  in?: AnySchema;
}

const def = (schema: AnySchema): Def => schema._zod.def as unknown as Def;

/** The field names an object schema allows at `path` (through defaults, optionals, arrays, unions). */
export function allowedKeys(schema: AnySchema, path: FieldPath): string[] {
  const found = new Set<string>();
  const walk = (s: AnySchema, rest: FieldPath): void => {
    const d = def(s);
    if (d.innerType) return walk(d.innerType, rest);
    if (d.type === 'pipe' && d.in) return walk(d.in, rest);
    if (d.type === 'union') return d.options?.forEach((o) => walk(o, rest));
    if (d.type === 'array' && d.element) return typeof rest[0] === 'number' ? walk(d.element, rest.slice(1)) : undefined;
    if (d.type === 'object' && d.shape) {
      if (rest.length === 0) Object.keys(d.shape).forEach((k) => found.add(k));
      else if (typeof rest[0] === 'string' && d.shape[rest[0]]) walk(d.shape[rest[0]], rest.slice(1));
    }
  };
  walk(schema, path);
  return [...found];
}

export interface IssueMessage {
  path: FieldPath;
  /** "field: expected ..., received .... Fix." without the file:line. */
  text: string;
}

/** "Invalid input: expected number, received string" and our own "expected ..." -> what was expected. */
function expectedOf(issue: Issue): string {
  const own = /^expected (.*)$/s.exec(issue.message);
  if (own) return own[1];
  const zods = /expected ([^,]+)/.exec(issue.message);
  if (issue.code === 'invalid_value' && 'values' in issue) return `one of ${(issue.values as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  if (issue.code === 'too_small') {
    if (issue.origin === 'array') return `at least ${issue.minimum} entr${issue.minimum === 1 ? 'y' : 'ies'}`;
    if (issue.origin === 'string') return 'a non-empty text';
    return issue.inclusive === false ? `a number above ${issue.minimum}` : `a number from ${issue.minimum}`;
  }
  if (issue.code === 'too_big') return issue.inclusive === false ? `a number below ${issue.maximum}` : `at most ${issue.maximum}`;
  if (issue.code === 'invalid_union') {
    const kinds = issue.errors.flatMap((branch) => branch.filter((i) => i.path.length === 0).map((i) => /expected ([^,]+)/.exec(i.message)?.[1])).filter(Boolean);
    if (kinds.length > 0) return [...new Set(kinds)].join(' or ');
  }
  return zods ? zods[1] : issue.message;
}

/** One message per problem (an unknown-field issue naming two fields gives two). */
export function describeIssues(issues: readonly Issue[], schema: AnySchema, input: unknown, prefix: FieldPath = []): IssueMessage[] {
  const out: IssueMessage[] = [];
  for (const issue of issues) {
    const path = [...prefix, ...issue.path];
    if (issue.code === 'unrecognized_keys') {
      const allowed = allowedKeys(schema, issue.path);
      for (const key of issue.keys) {
        const hint = didYouMean(key, allowed);
        out.push({
          path: [...path, key],
          text: `${fieldName([...path, key])}: unknown field. Allowed here: ${allowed.join(', ')}.${hint ? ` ${hint}` : ''}`,
        });
      }
      continue;
    }
    const written = valueAt(input, issue.path);
    const missing = written === undefined;
    out.push({
      path,
      text: missing
        ? `${fieldName(path)}: expected ${expectedOf(issue)}, but the field is missing. Add it (see config/default.yaml).`
        : `${fieldName(path)}: expected ${expectedOf(issue)}, received ${describeValue(written)}.`,
    });
  }
  return out;
}
