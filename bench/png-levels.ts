/**
 * `npx tsx bench/png-levels.ts <atlas folder> [--count 50]`: encode time against size of the atlas's
 * visualisation PNGs at several zlib levels (with and without adaptive filtering), and of their web
 * images, on the pixels of real pictures. How render/images.ts PNG_OPTIONS was chosen.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import { parseCount } from '../pipeline/cli/commands/visualize.js';
import { decodeRgb, encodeWebImages, type RgbBytes } from '../pipeline/render/images.js';
import { atlasSchema } from '../pipeline/schema/atlas.js';

const SETTINGS = [
  { compressionLevel: 9, adaptiveFiltering: true },
  { compressionLevel: 9, adaptiveFiltering: false },
  { compressionLevel: 6, adaptiveFiltering: true },
  { compressionLevel: 6, adaptiveFiltering: false },
  { compressionLevel: 4, adaptiveFiltering: true },
  { compressionLevel: 3, adaptiveFiltering: true },
  { compressionLevel: 3, adaptiveFiltering: false },
  { compressionLevel: 1, adaptiveFiltering: true },
  { compressionLevel: 1, adaptiveFiltering: false },
] as const;
const ROUNDS = 5;

/**
 * Per pass over every picture (one encode at a time): the CPU time of the process (all its threads:
 * sharp encodes on libuv's), which a busy machine disturbs less than wall time; the least of ROUNDS
 * passes, and the bytes written.
 */
async function measure(pictures: RgbBytes[], encode: (pixels: RgbBytes) => Promise<number>): Promise<{ ms: number; wallMs: number; bytes: number }> {
  let best = Infinity;
  let bestWall = Infinity;
  let bytes = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const cpu = process.cpuUsage();
    const started = performance.now();
    bytes = 0;
    for (const pixels of pictures) bytes += await encode(pixels);
    const used = process.cpuUsage(cpu);
    best = Math.min(best, (used.user + used.system) / 1000);
    bestWall = Math.min(bestWall, performance.now() - started);
  }
  return { ms: best, wallMs: bestWall, bytes };
}

async function main(argv: string[]): Promise<void> {
  const program = new Command('png-levels').argument('<atlas>', 'a built atlas folder').option('--count <n>', 'pictures measured', '50').parse(argv);
  const count = parseCount('--count', program.opts<{ count: string }>().count, 1);
  const dir = resolve(program.args[0]);
  const atlas = atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
  // Spread over the layers: every n-th picture, so each size is in the sample.
  const files = atlas.layers.flatMap((layer) => layer.filters.flatMap((f) => (f.image ? [f.image] : [])));
  const step = Math.max(1, Math.floor(files.length / count));
  const chosen = files.filter((_, i) => i % step === 0).slice(0, count);
  const pictures = await Promise.all(chosen.map(async (file) => decodeRgb(await readFile(join(dir, file)))));
  sharp.concurrency(1);
  const raw = (pixels: RgbBytes) => sharp(pixels.data, { raw: { width: pixels.width, height: pixels.height, channels: 3 } });
  console.log(`${pictures.length} pictures of ${dir} (${[...new Set(pictures.map((p) => p.width))].join(', ')} px), sharp.concurrency(1), least of ${ROUNDS} passes`);
  console.log('| encoding | CPU ms per picture | wall ms per picture | KB per picture |');
  console.log('|---|---|---|---|');
  const row = (name: string, { ms, wallMs, bytes }: { ms: number; wallMs: number; bytes: number }) =>
    console.log(`| ${name} | ${(ms / pictures.length).toFixed(2)} | ${(wallMs / pictures.length).toFixed(2)} | ${(bytes / pictures.length / 1024).toFixed(1)} |`);
  for (const setting of SETTINGS) {
    row(`PNG level ${setting.compressionLevel}${setting.adaptiveFiltering ? ', adaptive filtering' : ''}`, await measure(pictures, async (pixels) => (await raw(pixels).png(setting).toBuffer()).length));
  }
  const web = await measure(pictures, async (pixels) => {
    const images = await encodeWebImages(pixels);
    return images.full.length + images.thumb1x.length + (images.thumb2x?.length ?? 0);
  });
  row('web images (WebP full, 1x, 2x)', web);
}

await main(process.argv);
