#!/usr/bin/env node
/**
 * Sums the figures the fault-injection tests wrote (test-artifacts/faults/<file>.json) into the
 * numbers the README quotes. `npm run test:faults` runs the suite, then this.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

const folder = join(import.meta.dirname, '../../test-artifacts/faults');
const names = (await readdir(folder).catch(() => [])).filter((n) => n.endsWith('.json')).sort();
if (names.length === 0) {
  process.stderr.write(`no figures in ${folder}: run \`npx vitest run test/faults\` first\n`);
  process.exit(1);
}
const totals = { killsSurvived: 0, faultsInjected: 0, hostileInputs: 0, bytesCompared: 0, bytesLost: 0 };
const rows = [];
const notes = [];
for (const name of names) {
  const figures = JSON.parse(await readFile(join(folder, name), 'utf8'));
  for (const key of Object.keys(totals)) totals[key] += figures[key] ?? 0;
  rows.push([name.replace(/\.json$/, ''), ...Object.keys(totals).map((key) => String(figures[key] ?? ''))]);
  for (const note of figures.notes ?? []) notes.push(`${name.replace(/\.json$/, '')}: ${note}`);
}
const header = ['test file', 'kills survived', 'faults injected', 'hostile inputs', 'bytes compared', 'bytes lost'];
const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
const line = (cells) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]) : c)).join('  ');
process.stdout.write([line(header), ...rows.map(line), '', ...notes].join('\n') + '\n\n');
process.stdout.write(
  `kills survived: ${totals.killsSurvived}, faults injected: ${totals.faultsInjected}, hostile inputs tried: ${totals.hostileInputs}, ` +
    `bytes lost: ${totals.bytesLost} of ${totals.bytesCompared} compared\n`,
);
