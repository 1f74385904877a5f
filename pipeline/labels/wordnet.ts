/**
 * Derives the hypernym table of the 1000 ImageNet classes from WordNet 3.0's `data.noun`.
 * ImageNet wnids are WordNet 3.0 noun offsets (`n02085620` = offset 02085620 of data.noun), so
 * each class's hypernyms ('@' and instance '@i' pointers) up to `entity` are read from there.
 * Run by scripts/wordnet-hypernyms.ts; the derived table (data/imagenet-hypernyms.tsv) is committed,
 * so a build never needs WordNet installed.
 */

export interface Synset {
  wnid: string;
  /** The synset's first lemma, underscores as spaces ("domestic dog" -> "dog" is the first lemma of n02084071). */
  name: string;
  /** Direct hypernyms (wnids), in data.noun order. */
  parents: string[];
}

/** One data.noun line -> its offset, first lemma and hypernym offsets (pointer symbols '@' and '@i'). */
export function parseDataNounLine(line: string): Synset | undefined {
  if (line.startsWith('  ') || line.trim() === '') return undefined; // licence header lines start with two spaces
  const fields = line.split(' ');
  const offset = fields[0];
  const wordCount = parseInt(fields[3], 16);
  const name = fields[4].replace(/_/g, ' ').replace(/\(.*\)$/, '');
  let at = 4 + 2 * wordCount;
  const pointerCount = parseInt(fields[at], 10);
  at++;
  const parents: string[] = [];
  for (let i = 0; i < pointerCount; i++, at += 4) {
    const [symbol, target, pos] = [fields[at], fields[at + 1], fields[at + 2]];
    if ((symbol === '@' || symbol === '@i') && pos === 'n') parents.push(`n${target}`);
  }
  return { wnid: `n${offset}`, name, parents };
}

/** The synsets of `wnids` and all their hypernyms, parents before children is not required; sorted by wnid. */
export function hypernymClosure(dataNoun: string, wnids: readonly string[]): Synset[] {
  const byWnid = new Map<string, Synset>();
  for (const line of dataNoun.split('\n')) {
    const synset = parseDataNounLine(line);
    if (synset) byWnid.set(synset.wnid, synset);
  }
  const out = new Map<string, Synset>();
  const stack = [...wnids];
  while (stack.length > 0) {
    const wnid = stack.pop()!;
    if (out.has(wnid)) continue;
    const synset = byWnid.get(wnid);
    if (!synset) throw new Error(`data.noun has no synset ${wnid}: is it WordNet 3.0?`);
    out.set(wnid, synset);
    stack.push(...synset.parents);
  }
  return [...out.values()].sort((a, b) => (a.wnid < b.wnid ? -1 : a.wnid > b.wnid ? 1 : 0));
}

export const TABLE_HEADER = [
  '# Hypernyms of the 1000 ILSVRC-2012 classes, derived from WordNet 3.0 data.noun',
  '# (Debian package wordnet-base, /usr/share/wordnet/data.noun; WordNet 3.0 Copyright 2006 by Princeton University,',
  '# WordNet 3.0 license) by scripts/wordnet-hypernyms.ts. Do not edit: run `npm run labels:hypernyms` to regenerate.',
  '# Columns: wnid, first lemma, direct hypernyms (comma-separated wnids; empty for entity).',
];

export function formatTable(synsets: readonly Synset[]): string {
  return [...TABLE_HEADER, ...synsets.map((s) => `${s.wnid}\t${s.name}\t${s.parents.join(',')}`)].join('\n') + '\n';
}

export function parseTable(text: string): Map<string, Synset> {
  const out = new Map<string, Synset>();
  for (const line of text.split('\n')) {
    if (line.startsWith('#') || line.trim() === '') continue;
    const [wnid, name, parents = ''] = line.split('\t');
    out.set(wnid, { wnid, name, parents: parents ? parents.split(',') : [] });
  }
  return out;
}
