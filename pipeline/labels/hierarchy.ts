/**
 * Label hierarchies for dominant labels: the WordNet hypernyms of the ImageNet classes (the committed
 * table data/imagenet-hypernyms.tsv, see wordnet.ts), or a flat one where a dataset's classes are
 * only names (each class is its own and only label).
 */
import { readFile } from 'node:fs/promises';
import { parseTable, type Synset } from './wordnet.js';

export interface LabelHierarchy {
  /** True when ids are WordNet ids. */
  readonly isWordnet: boolean;
  /** The id itself and every ancestor. */
  ancestors(id: string): string[];
  name(id: string): string;
}

export async function loadImagenetHypernyms(): Promise<Map<string, Synset>> {
  return parseTable(await readFile(new URL('./data/imagenet-hypernyms.tsv', import.meta.url), 'utf8'));
}

/**
 * WordNet ancestors from the table; `names` (wnid -> the dataset's class name) names the classes
 * as the dataset does. A wnid the table lacks (a class outside ImageNet-1k) is a label of its own.
 */
export function wordnetHierarchy(table: Map<string, Synset>, names: ReadonlyMap<string, string> = new Map()): LabelHierarchy {
  const memo = new Map<string, string[]>();
  const ancestors = (id: string): string[] => {
    let found = memo.get(id);
    if (!found) {
      const out = new Set<string>([id]);
      const stack = [...(table.get(id)?.parents ?? [])];
      while (stack.length > 0) {
        const next = stack.pop()!;
        if (out.has(next)) continue;
        out.add(next);
        stack.push(...(table.get(next)?.parents ?? []));
      }
      found = [...out];
      memo.set(id, found);
    }
    return found;
  };
  return {
    isWordnet: true,
    ancestors,
    name: (id) => names.get(id) ?? table.get(id)?.name ?? id,
  };
}

export const flatHierarchy: LabelHierarchy = { isWordnet: false, ancestors: (id) => [id], name: (id) => id };
