/**
 * `npm run contact-sheet -- output/<atlas>`: a PNG of class visualisations by two methods side by side
 * (article | lucid per class), for the README and the issue's note. The classes are a seeded sample of
 * the class filters both methods drew; each pair is labelled with the class name and, per picture, the
 * model's top-1 answer on it (green when it is the class).
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import sharp, { type OverlayOptions } from 'sharp';
import { atlasSchema } from '../pipeline/schema/atlas.js';
import { classifyImages } from '../pipeline/classify/classify.js';
import { parseCount } from '../pipeline/cli/commands/visualize.js';
import { exitWithError } from '../pipeline/cli/exit.js';
import { sampleFilters } from '../pipeline/config/filters.js';
import { createEngine } from '../pipeline/engine/create.js';
import { userError } from '../pipeline/errors.js';
import { loadModel } from '../pipeline/model/load.js';
import { writeFileAtomic } from '../pipeline/util/fs.js';

const TILE = 192;
const GAP = 8;
const CAPTION = 34;

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('contact-sheet')
    .argument('<atlas>', 'atlas folder whose class layer has two methods (config: a list of method blocks)')
    .option('--count <n>', 'classes shown', '16')
    .option('--seed <s>', 'seed of the sample of classes', '1')
    .option('--columns <n>', 'class pairs per row', '4')
    .option('--output <file>', 'PNG to write', 'docs/images/contact-sheet.png')
    .parse(argv);
  const flags = program.opts<{ count: string; seed: string; columns: string; output: string }>();
  const [count, seed, columns] = [parseCount('--count', flags.count, 1), parseCount('--seed', flags.seed), parseCount('--columns', flags.columns, 1)];
  const dir = resolve(program.args[0]);
  const atlas = atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
  const model = await loadModel(atlas.model.spec);
  const layer = atlas.layers.find((l) => l.channels === model.labels?.length && (l.otherMethods?.length ?? 0) > 0);
  if (!layer) throw userError({ where: dir, expected: 'a class layer (one filter per class) with two methods', received: atlas.layers.map((l) => `${l.name}: ${1 + (l.otherMethods?.length ?? 0)} method(s)`).join(', '), fix: 'Build config/classes.yaml (article and lucid) first.' });
  const kinds = [layer.method?.kind ?? 'article', layer.otherMethods![0].kind ?? 'article'];
  const both = layer.filters.filter((f) => f.image && f.others?.[0]?.image);
  const chosen = new Set(sampleFilters(both.map((f) => f.filter), count, seed));
  const shown = both.filter((f) => chosen.has(f.filter));
  const paths = shown.flatMap((f) => [join(dir, f.image!), join(dir, f.others![0].image!)]);
  const engine = await createEngine(model, { engine: 'ort' });
  const answers = await classifyImages(engine, model, paths, { top: 1, batch: 16 }).finally(() => engine.dispose());

  const rows = Math.ceil(shown.length / columns);
  const pairWidth = 2 * TILE + GAP;
  const width = columns * pairWidth + (columns + 1) * 3 * GAP;
  const header = 40;
  const height = header + rows * (TILE + CAPTION + 3 * GAP) + GAP;
  const layers: OverlayOptions[] = [];
  const texts: string[] = [`<text x="${width / 2}" y="26" font-size="18" text-anchor="middle" font-family="sans-serif" fill="#222">${escapeXml(`${atlas.model.name} ${layer.name}: ${kinds[0]} (left) vs ${kinds[1]} (right) per class`)}</text>`];
  for (const [i, filter] of shown.entries()) {
    const [col, row] = [i % columns, Math.floor(i / columns)];
    const left = 3 * GAP + col * (pairWidth + 3 * GAP);
    const top = header + row * (TILE + CAPTION + 3 * GAP);
    for (let k = 0; k < 2; k++) {
      const input = await sharp(paths[2 * i + k]).resize(TILE, TILE, { fit: 'fill' }).png().toBuffer();
      layers.push({ input, left: left + k * (TILE + GAP), top });
      const answer = answers[2 * i + k].top[0];
      const right = answer.index === filter.filter;
      texts.push(`<text x="${left + k * (TILE + GAP) + TILE / 2}" y="${top + TILE + 14}" font-size="11" text-anchor="middle" font-family="sans-serif" fill="${right ? '#16794a' : '#b3261e'}">${escapeXml(`${right ? '✓' : '✗'} ${(answer.label ?? String(answer.index)).slice(0, 30)}`)}</text>`);
    }
    const name = model.labels?.[filter.filter] ?? String(filter.filter);
    texts.push(`<text x="${left + pairWidth / 2}" y="${top + TILE + 29}" font-size="12" font-weight="bold" text-anchor="middle" font-family="sans-serif" fill="#222">${escapeXml(`${filter.filter}: ${name}`.slice(0, 44))}</text>`);
  }
  const svg = Buffer.from(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${texts.join('')}</svg>`);
  const png = await sharp({ create: { width, height, channels: 3, background: '#ffffff' } })
    .composite([...layers, { input: svg, left: 0, top: 0 }])
    .png({ compressionLevel: 9 })
    .toBuffer();
  await writeFileAtomic(flags.output, png);
  const correct = (k: number) => shown.filter((f, i) => answers[2 * i + k].top[0].index === f.filter).length;
  console.log(`${flags.output}: ${shown.length} classes; top-1 on these: ${kinds[0]} ${correct(0)}/${shown.length}, ${kinds[1]} ${correct(1)}/${shown.length}`);
}

main(process.argv).catch(exitWithError);
