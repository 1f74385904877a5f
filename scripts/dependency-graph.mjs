/**
 * Redraws depcruise's folder-level dot output (stdin) with one row per layer of
 * scripts/dependency-layers.cjs, top first, and writes dot to stdout (`npm run lint:deps:graph`).
 * An arrow that runs up or sideways would break a rule; each one is also named on stderr and the
 * script exits 1.
 * Solid: runtime import; hollow head: type-only; dashed: dynamic import().
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const { LAYERS } = createRequire(import.meta.url)('./dependency-layers.cjs');

const rows = LAYERS.map((layer, rank) => ({ ...layer, rank, nodes: layer.folders.map((f) => `pipeline/${f}`) }));
const rankOf = new Map(rows.flatMap((row) => row.nodes.map((node) => [node, row.rank])));
const label = (node) => node.replace(/^pipeline\//, '');

const input = readFileSync(0, 'utf8');
const edges = [...input.matchAll(/^\s*"([^"]+)" -> "([^"]+)"(?: \[([^\]]*)\])?/gm)].map(([, from, to, attrs]) => ({ from, to, attrs: attrs ?? '' }));
// The site's folders sit with the entry points: nothing below imports them.
for (const node of new Set(edges.flatMap((e) => [e.from, e.to]))) if (node.startsWith('site/')) rankOf.set(node, 0);

const wrong = edges.filter((e) => !(rankOf.get(e.from) < rankOf.get(e.to)));
for (const e of wrong) console.error(`not downward: ${e.from} -> ${e.to}`);

const quote = (s) => JSON.stringify(s);
const lines = [
  'digraph dependencies {',
  '  rankdir=TB; newrank=true; nodesep=0.3; ranksep=0.5; fontname="Helvetica";',
  '  label="filter-atlas: imports between folders (npm run lint:deps:graph). Solid: runtime, hollow head: type-only, dashed: dynamic import()"; labelloc=b; fontsize=10;',
  '  node [shape=box style="rounded,filled" fillcolor="#ffffcc" fontname="Helvetica" fontsize=11 height=0.3];',
  '  edge [color="#00000055" arrowsize=0.6];',
];
for (const row of rows) {
  const members = row.nodes.concat(row.rank === 0 ? [...rankOf.keys()].filter((n) => n.startsWith('site/')) : []);
  lines.push(`  { rank=same; ${quote(`layer:${row.id}`)} [label=${quote(row.name)} shape=plaintext style="" fontcolor="#555555" fontsize=10]; ${members.map((n) => `${quote(n)} [label=${quote(label(n))}${n.startsWith('site/') ? ' fillcolor="#ddeeff"' : ''}]`).join('; ')} }`);
}
lines.push(`  ${rows.map((row) => quote(`layer:${row.id}`)).join(' -> ')} [style=invis];`);
for (const e of edges) {
  const attrs = e.attrs.replace(/penwidth="[^"]*"/g, '').trim();
  lines.push(`  ${quote(e.from)} -> ${quote(e.to)}${attrs ? ` [${attrs}]` : ''};`);
}
lines.push('}');
console.log(lines.join('\n'));
process.exitCode = wrong.length ? 1 : 0;
