/**
 * Where a config field is written: the line of its key in the YAML file (not of its value, which
 * may start on the next line), or of the list item. A path that goes deeper than the file (a
 * missing field) points at the deepest part that exists.
 */
import { isMap, isScalar, isSeq, type Document, type LineCounter } from 'yaml';

export type FieldPath = readonly PropertyKey[];

interface Ranged {
  range?: [number, number, number] | null;
}

/** The 1-based line of the deepest key or item on the path (1 for an empty path). */
export function lineOf(doc: Document, lines: LineCounter, path: FieldPath): number {
  let node: unknown = doc.contents;
  let offset = (node as Ranged | null)?.range?.[0] ?? 0;
  for (const segment of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => (isScalar(p.key) ? p.key.value : p.key) === segment);
      if (!pair) break;
      offset = (pair.key as Ranged | null)?.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number' && node.items[segment] !== undefined) {
      node = node.items[segment];
      offset = (node as Ranged | null)?.range?.[0] ?? offset;
    } else {
      break;
    }
  }
  return lines.linePos(offset).line;
}

/** "layers[0].filters", or "(top level)". */
export function fieldName(path: FieldPath): string {
  return path.length === 0 ? '(top level)' : path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('').replace(/^\./, '');
}

/** The value written at a path, or undefined. */
export function valueAt(value: unknown, path: FieldPath): unknown {
  let current = value;
  for (const segment of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<PropertyKey, unknown>)[segment];
  }
  return current;
}
