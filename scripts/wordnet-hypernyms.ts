/**
 * Regenerates pipeline/labels/data/imagenet-hypernyms.tsv from WordNet 3.0's data.noun
 * (Debian: `apt-get install wordnet-base`). Usage: npm run labels:hypernyms [-- /path/to/data.noun]
 */
import { readFile, writeFile } from 'node:fs/promises';
import { loadImagenetClasses } from '../pipeline/model/imagenet.js';
import { formatTable, hypernymClosure } from '../pipeline/labels/wordnet.js';

const source = process.argv[2] ?? '/usr/share/wordnet/data.noun';
const target = new URL('../pipeline/labels/data/imagenet-hypernyms.tsv', import.meta.url);
const { wnids } = await loadImagenetClasses();
const synsets = hypernymClosure(await readFile(source, 'latin1'), wnids);
await writeFile(target, formatTable(synsets));
console.log(`${synsets.length} synsets (1000 classes and their hypernyms) -> ${target.pathname}`);
