/**
 * A schema-valid atlas for the site tests, generated with sharp: patterned visualisations,
 * WebP thumbnails and crops, ImageNet-style labels, a probe with an SVG chart. Two layers, one
 * with a dotted torchvision name, and dead / failed / low-contrast filters so every page state
 * shows. The site tests read everything they visit from atlas.json, so this can be swapped for
 * a small real pipeline build.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { atlasSchema, ATLAS_SCHEMA_VERSION, type Atlas, type AtlasFilter, type AtlasLayer, type TopImage } from '../../pipeline/schema/atlas.js';
import { writeFileAtomic } from '../../pipeline/util/fs.js';

const ATLAS_ID = 'fixture-darknet';
const CLASSES = ['goldfish', 'tabby_cat', 'great_white_shark', 'triumphal_arch', 'chain', 'daisy', 'volcano', 'bee'];

/** Small deterministic PRNG: the fixture is identical on every run. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = Math.imul(s ^ (s >>> 15), 1 | s);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A colourful interference pattern, like the textures a feature visualisation produces. */
function pattern(size: number, seed: number, contrast = 1): Buffer {
  const rnd = random(seed);
  const [fx, fy, fz] = [2 + rnd() * 10, 2 + rnd() * 10, 1 + rnd() * 6];
  const phase = [rnd() * 6, rnd() * 6, rnd() * 6];
  const pixels = Buffer.alloc(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const u = x / size;
      const v = y / size;
      const base = Math.sin(u * fx * Math.PI + Math.cos(v * fz * 3)) * Math.sin(v * fy * Math.PI + u * 3);
      for (let c = 0; c < 3; c++) {
        const value = 0.5 + 0.5 * contrast * Math.sin(base * 3 + phase[c] + c * (u - v) * 4);
        pixels[(y * size + x) * 3 + c] = Math.max(0, Math.min(255, Math.round(value * 255)));
      }
    }
  }
  return pixels;
}

const raw = (pixels: Buffer, width: number, height = width) => sharp(pixels, { raw: { width, height, channels: 3 } });

async function write(dir: string, path: string, data: Buffer | string): Promise<string> {
  await writeFileAtomic(join(dir, path), data);
  return path;
}

/** Dataset stand-ins: a thumbnail and a crop per image, shared by the filters' top lists. */
async function datasetImages(dir: string): Promise<{ file: string; label: string; classIndex: number; crop: string; thumb: string }[]> {
  const images = [];
  for (let i = 0; i < 12; i++) {
    const label = CLASSES[i % CLASSES.length];
    const file = `n0${1440764 + i * 1111}_${label}_${i}.JPEG`;
    const pixels = pattern(160, 1000 + i);
    const thumb = await write(dir, `dataset/${i}-thumb.webp`, await raw(pixels, 160).resize(96, 96).webp({ quality: 70 }).toBuffer());
    const crop = await write(dir, `dataset/${i}-crop.webp`, await raw(pixels, 160).extract({ left: 32, top: 24, width: 80, height: 80 }).webp({ quality: 70 }).toBuffer());
    images.push({ file, label, classIndex: i % CLASSES.length, crop, thumb });
  }
  return images;
}

async function layer(dir: string, name: string, index: number, channels: number, seed: number, dataset: Awaited<ReturnType<typeof datasetImages>>): Promise<AtlasLayer> {
  const rnd = random(seed);
  const filters: AtlasFilter[] = [];
  for (let f = 0; f < channels; f++) {
    const status: AtlasFilter['status'] = f % 11 === 7 ? 'failed' : f % 9 === 4 ? 'dead' : 'ok';
    const lowContrast = status === 'ok' && f % 7 === 5;
    const folder = `layers/${name}`;
    let image: string | undefined;
    let thumb: string | undefined;
    if (status !== 'failed') {
      const pixels = pattern(224, seed * 1000 + f, status === 'dead' ? 0.05 : lowContrast ? 0.25 : 1);
      image = await write(dir, `${folder}/${String(f).padStart(4, '0')}.png`, await raw(pixels, 224).png().toBuffer());
      thumb = await write(dir, `${folder}/${String(f).padStart(4, '0')}-thumb.webp`, await raw(pixels, 224).resize(96, 96).webp({ quality: 75 }).toBuffer());
    }
    const max = 2 + rnd() * 8;
    const top: TopImage[] = Array.from({ length: 4 }, (_, k) => {
      const d = dataset[(f * 3 + k * (1 + (f % 2))) % dataset.length];
      return { file: d.file, label: d.label, classIndex: d.classIndex, mean: max * (0.5 - k * 0.08), max: max * (1 - k * 0.1), at: { y: (f + k) % 7, x: (f * 2 + k) % 7, height: 7, width: 7 }, crop: d.crop, thumb: d.thumb };
    });
    const counts = new Map<string, number>();
    for (const t of top) counts.set(t.label!, (counts.get(t.label!) ?? 0) + 1);
    const activation = status === 'dead' ? 0 : max * (1.5 + rnd() * 4);
    filters.push({
      filter: f,
      key: `sha256-${(seed * 7919 + f * 104729).toString(16).padStart(12, '0')}`,
      status,
      image,
      thumb,
      activation,
      seconds: 1 + rnd() * 3,
      flags: { dead: status === 'dead', diverged: status === 'failed', lowContrast, clippedFraction: rnd() * 0.05 },
      stats: status === 'failed' ? undefined : { mean: max * 0.2, std: max * 0.1, max, activeFraction: 0.3 + rnd() * 0.6 },
      superstimulus: status === 'ok' ? activation / max : undefined,
      top,
      labels: [...counts].map(([label, count]) => ({ label, count })).sort((a, b) => b.count - a.count || a.label.localeCompare(b.label)),
    });
  }
  return { name, index, kind: 'conv', channels, receptiveField: 16 + index * 8, filters };
}

/** A bar chart like the probe stage draws (one bar per filter, the top ones highlighted). */
function chartSvg(means: number[], highlight: Set<number>): string {
  const width = 640;
  const height = 200;
  const peak = Math.max(...means, 1e-6);
  const bar = width / means.length;
  const bars = means
    .map((m, i) => `<rect x="${(i * bar).toFixed(2)}" y="${(height - 20 - (m / peak) * (height - 30)).toFixed(2)}" width="${Math.max(bar - 1, 1).toFixed(2)}" height="${((m / peak) * (height - 30)).toFixed(2)}" fill="${highlight.has(i) ? '#d9480f' : '#4c6ef5'}"/>`)
    .join('');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"><rect width="100%" height="100%" fill="#fff"/>${bars}<text x="4" y="${height - 4}" font-size="11" font-family="sans-serif">filter index</text></svg>`;
}

/** Writes `<outputDir>/fixture-darknet/atlas.json` and its files. */
export async function prepareSiteAtlas(outputDir: string): Promise<void> {
  const dir = join(outputDir, ATLAS_ID);
  const dataset = await datasetImages(dir);
  const layers = [await layer(dir, 'conv2d_3', 6, 12, 3, dataset), await layer(dir, 'features.40', 40, 24, 40, dataset)];

  const probeLayer = layers[1];
  const rnd = random(77);
  const means = probeLayer.filters.map((f) => (f.filter === 9 ? 3.2 : f.filter === 15 ? 2.4 : rnd() * 0.8));
  const order = means.map((m, i) => ({ m, i })).sort((a, b) => b.m - a.m).slice(0, 5);
  const photo = await write(dir, 'probes/goldfish-photo.jpg', await raw(pattern(240, 55), 240).resize(320, 240).jpeg({ quality: 80 }).toBuffer());
  const chart = await write(dir, 'probes/goldfish-chart.svg', chartSvg(means, new Set(order.map((o) => o.i))));
  // The article probes the ReLU after the visualised conv (features.42 after features.40).
  const reluMeans = means.map((m, i) => Math.max(0, m - 0.3 + (i % 3) * 0.1));
  const reluOrder = reluMeans.map((m, i) => ({ m, i })).sort((a, b) => b.m - a.m).slice(0, 5);
  const reluPhoto = await write(dir, 'probes/arch-photo.webp', await raw(pattern(240, 56), 240).resize(240, 320).webp({ quality: 80 }).toBuffer());
  const reluChart = await write(dir, 'probes/arch-chart.svg', chartSvg(reluMeans, new Set(reluOrder.map((o) => o.i))));

  const atlas: Atlas = {
    schemaVersion: ATLAS_SCHEMA_VERSION,
    id: ATLAS_ID,
    title: 'Fixture: darknet-tiny',
    createdAt: '2026-11-27T12:00:00.000Z',
    complete: true,
    model: { name: 'darknet-tiny', spec: 'darknet-tiny', version: '1.0', format: 'tfjs-layers', weightsDigest: 'sha256:9f2c4e1a7b3d5f60718293a4b5c6d7e8f9012345', inputSize: [224, 224] },
    engine: { name: 'onnxruntime-node', device: 'cpu' },
    method: { description: 'Multi-scale gradient ascent on the mean activation of one filter (12 scales from 56 px, Adam lr 0.1).', params: { scales: 12, steps: 20, lr: 0.1, seed: 0 } },
    dataset: { name: 'imagenet-sample', digest: 'sha256:0123456789abcdef0123', images: dataset.map((d) => d.file), skipped: [], scanSeconds: 12.5 },
    layers,
    probes: [
      {
        id: 'goldfish',
        image: photo,
        source: 'photos/goldfish.jpg',
        layer: probeLayer.name,
        chart,
        means,
        top: order.map((o) => ({ filter: o.i, mean: o.m, label: probeLayer.filters[o.i].labels?.[0]?.label })),
      },
      {
        id: 'arch-features.42',
        image: reluPhoto,
        source: 'photos/arch.png',
        layer: 'features.42',
        chart: reluChart,
        means: reluMeans,
        top: reluOrder.map((o) => ({ filter: o.i, mean: o.m })),
      },
    ],
  };
  await writeFileAtomic(join(dir, 'atlas.json'), JSON.stringify(atlasSchema.parse(atlas), null, 2));
}
