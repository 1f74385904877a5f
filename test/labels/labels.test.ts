/**
 * Dominant labels: the WordNet table is what data.noun gives (regenerated and compared where
 * wordnet-base is installed: CI installs it), the base-rate test, and the choice of the label.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { baseRates, binomialTail, dominantLabel } from '../../pipeline/labels/dominant.js';
import { flatHierarchy, loadImagenetHypernyms, wordnetHierarchy } from '../../pipeline/labels/hierarchy.js';
import { formatTable, hypernymClosure, parseDataNounLine } from '../../pipeline/labels/wordnet.js';
import { loadImagenetClasses } from '../../pipeline/model/imagenet.js';

const DATA_NOUN = '/usr/share/wordnet/data.noun';

describe('WordNet hypernym table', () => {
  it('parses a data.noun line: offset, first lemma, hypernym and instance-hypernym pointers', () => {
    const line = '02084071 05 n 03 dog 0 domestic_dog 0 Canis_familiaris 0 023 @ 02083346 n 0000 @ 01317541 n 0000 #m 02083863 n 0000 ~ 01322604 n 0000 | a member of the genus Canis';
    expect(parseDataNounLine(line)).toEqual({ wnid: 'n02084071', name: 'dog', parents: ['n02083346', 'n01317541'] });
  });

  // Skipped without wordnet-base outside CI only: CI installs it, so there a missing data.noun fails.
  it.skipIf(!existsSync(DATA_NOUN) && !process.env.CI)('is what scripts/wordnet-hypernyms.ts derives from data.noun', async () => {
    expect(existsSync(DATA_NOUN), `${DATA_NOUN} is missing: install wordnet-base (apt-get install wordnet-base)`).toBe(true);
    const { wnids } = await loadImagenetClasses();
    const derived = formatTable(hypernymClosure(await readFile(DATA_NOUN, 'latin1'), wnids));
    expect(derived).toBe(await readFile(new URL('../../pipeline/labels/data/imagenet-hypernyms.tsv', import.meta.url), 'utf8'));
  });

  it('puts every dog breed under dog, and dog under mammal', async () => {
    const table = await loadImagenetHypernyms();
    const { wnids } = await loadImagenetClasses();
    const hierarchy = wordnetHierarchy(table);
    const dogs = wnids.filter((w) => hierarchy.ancestors(w).includes('n02084071'));
    // ILSVRC's domestic dogs: n02085620 (Chihuahua) .. n02113978 (Mexican hairless), 118 classes.
    expect(dogs.length).toBe(118);
    expect(hierarchy.ancestors('n02085620')).toContain('n01861778'); // mammal
    expect(hierarchy.name('n02084071')).toBe('dog');
  });
});

describe('the base-rate test', () => {
  it('binomial tail', () => {
    expect(binomialTail(9, 9, 0.5)).toBeCloseTo(0.5 ** 9, 15);
    expect(binomialTail(0, 9, 0.3)).toBe(1);
    expect(binomialTail(1, 2, 0.5)).toBeCloseTo(0.75, 15);
  });

  const hierarchy = {
    isWordnet: false,
    ancestors: (id: string) => ({ beagle: ['beagle', 'dog', 'animal'], pug: ['pug', 'dog', 'animal'], tabby: ['tabby', 'cat', 'animal'], car: ['car'], fence: ['fence'], umbrella: ['umbrella'] })[id] ?? [id],
    name: (id: string) => id,
  };
  // 100 images: 10 beagles, 10 pugs, 20 tabbies, 30 cars, 20 fences, 10 umbrellas.
  const dataset = [...Array(10).fill('beagle'), ...Array(10).fill('pug'), ...Array(20).fill('tabby'), ...Array(30).fill('car'), ...Array(20).fill('fence'), ...Array(10).fill('umbrella')];
  const base = baseRates(hierarchy, dataset);

  it('aggregates breeds into the most specific label that passes: dog 9/9', () => {
    const label = dominantLabel(hierarchy, base, ['beagle', 'pug', 'beagle', 'pug', 'pug', 'beagle', 'beagle', 'pug', 'pug'])!;
    expect([label.label, label.count, label.of, label.baseRate]).toEqual(['dog', 9, 9, 0.2]);
    expect(label.p).toBeCloseTo(0.2 ** 9, 12);
  });

  it('says no dominant class when the majority label is common in the dataset', () => {
    // 6 of 9 animals, but animals are 40 % of the dataset: P(X >= 6) is about 0.1.
    expect(dominantLabel(hierarchy, base, ['beagle', 'tabby', 'pug', 'tabby', 'car', 'fence', 'umbrella', 'tabby', 'beagle'])).toBeNull();
    // A rare class twice is no majority.
    expect(dominantLabel(hierarchy, base, ['umbrella', 'fence', 'car', 'umbrella', 'tabby', 'car', 'fence', 'beagle', 'pug'])).toBeNull();
  });

  it('has nothing to test without labelled top images', () => {
    expect(dominantLabel(flatHierarchy, base, [undefined, undefined])).toBeUndefined();
  });
});
