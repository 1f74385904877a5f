/**
 * The in-browser probe (pages/[atlas]/probe.astro): decode the user's photo, resize it exactly as
 * the CLI does (pipeline/image/resize.ts, the same file), run the atlas's probe model with
 * onnxruntime-web (WebGPU where the browser has it, else WebAssembly) and show the mean activation
 * of every filter of the chosen layer: a bar chart and the top filters. The photo never leaves the page.
 */
import { resizeForModel } from '../../../pipeline/image/resize';
import { num } from '../../../pipeline/util/number-format';

interface FilterInfo { index: number; href?: string; src?: string; srcset?: string; label?: string }
interface ProbeConfig {
  ort: string;
  ortFolder: string;
  /** onnxruntime's WebAssembly binary, gzipped (lib/ort-runtime.ts). */
  ortBinary: string;
  models: { fp32: { url: string; bytes: number }; fp16?: { url: string; bytes: number } };
  input: string;
  inputSize: [number, number];
  resize: 'stretch' | 'center-crop';
  /** `layer` is the node name the probe model outputs; `name` what the site calls it (layer-names.ts). */
  layers: { layer: string; name: string; output: string; filters: FilterInfo[] }[];
  top: number;
}

type Ort = typeof import('onnxruntime-web');

const root = document.getElementById('probe-app')!;
const config = JSON.parse(document.getElementById('probe-config')!.textContent!) as ProbeConfig;
const status = document.getElementById('probe-status')!;
const fileInput = document.getElementById('probe-file') as HTMLInputElement;
const layerSelect = document.getElementById('probe-layer') as HTMLSelectElement;
const halfBox = document.getElementById('probe-fp16') as HTMLInputElement | null;
const drop = document.getElementById('probe-drop')!;
const results = document.getElementById('probe-results')!;
const preview = document.getElementById('probe-preview') as HTMLImageElement;

let ortPromise: Promise<Ort> | undefined;
const sessions = new Map<string, Promise<{ session: import('onnxruntime-web').InferenceSession; provider: string }>>();
let current: { means: Map<string, Float32Array>; name: string; provider: string } | undefined;

function say(text: string): void {
  status.textContent = text;
}

async function fetchOk(url: string): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok) throw new Error(`${url}: HTTP ${response.status} ${response.statusText}`);
  return response;
}

/** The runtime's binary: inflated here, unless the host sent the .gz with Content-Encoding: gzip. */
async function ortBinary(url: string): Promise<ArrayBuffer> {
  const bytes = await (await fetchOk(url)).arrayBuffer();
  const head = new Uint8Array(bytes.slice(0, 2));
  if (head[0] !== 0x1f || head[1] !== 0x8b) return bytes; // already "\0asm"
  return new Response(new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'))).arrayBuffer();
}

function loadOrt(): Promise<Ort> {
  ortPromise ??= Promise.all([import(/* @vite-ignore */ config.ort) as Promise<Ort>, ortBinary(config.ortBinary)]).then(([ort, binary]) => {
    ort.env.wasm.wasmPaths = config.ortFolder;
    ort.env.wasm.wasmBinary = binary;
    // Threads need cross-origin isolation, which a static host rarely sends.
    if (!crossOriginIsolated) ort.env.wasm.numThreads = 1;
    return ort;
  });
  ortPromise.catch(() => (ortPromise = undefined));
  return ortPromise;
}

async function session(half: boolean) {
  const key = half ? 'fp16' : 'fp32';
  let found = sessions.get(key);
  if (!found) {
    found = (async () => {
      const ort = await loadOrt();
      const model = half && config.models.fp16 ? config.models.fp16 : config.models.fp32;
      say(`Downloading the model (${(model.bytes / 1e6).toFixed(1)} MB)…`);
      const bytes = new Uint8Array(await (await fetchOk(model.url)).arrayBuffer());
      const gpu = 'gpu' in navigator && (await (navigator as unknown as { gpu: { requestAdapter(): Promise<unknown> } }).gpu.requestAdapter().catch(() => null));
      for (const provider of gpu ? ['webgpu', 'wasm'] : ['wasm']) {
        try {
          return { session: await ort.InferenceSession.create(bytes, { executionProviders: [provider] }), provider };
        } catch (error) {
          if (provider === 'wasm') throw error;
        }
      }
      throw new Error('no execution provider');
    })();
    found.catch(() => sessions.delete(key));
    sessions.set(key, found);
  }
  return found;
}

/** RGBA pixels of the photo at its own size, oriented by EXIF as sharp's rotate() does. */
async function decode(file: Blob): Promise<{ data: Uint8ClampedArray; width: number; height: number }> {
  const bitmap = await createImageBitmap(file, { imageOrientation: 'from-image', premultiplyAlpha: 'none' });
  const canvas = document.createElement('canvas');
  canvas.width = bitmap.width;
  canvas.height = bitmap.height;
  const context = canvas.getContext('2d', { willReadFrequently: true })!;
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  return { data: context.getImageData(0, 0, canvas.width, canvas.height).data, width: canvas.width, height: canvas.height };
}

function channelMeans(data: Float32Array, dims: readonly number[]): Float32Array {
  const channels = dims[1];
  const plane = dims.slice(2).reduce((a, b) => a * b, 1);
  const means = new Float32Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let i = c * plane; i < (c + 1) * plane; i++) sum += data[i];
    means[c] = sum / plane;
  }
  return means;
}

async function probe(file: File): Promise<void> {
  try {
    results.hidden = true;
    preview.src = URL.createObjectURL(file);
    preview.hidden = false;
    say('Reading the photo…');
    const pixels = await decode(file);
    const input = resizeForModel(pixels.data, pixels.width, pixels.height, 4, { inputSize: config.inputSize, resize: config.resize });
    const { session: s, provider } = await session(Boolean(halfBox?.checked));
    say(`Running the model (${provider})…`);
    const ort = await loadOrt();
    const output = await s.run({ [config.input]: new ort.Tensor('float32', input.data, [1, 3, input.height, input.width]) });
    const means = new Map(config.layers.map((l) => [l.layer, channelMeans(output[l.output].data as Float32Array, output[l.output].dims)]));
    current = { means, name: file.name, provider };
    render();
  } catch (error) {
    say(`Could not probe this photo: ${(error as Error).message}`);
  }
}

/** An SVG element with the given attributes, set as text (never parsed as markup). */
function svgElement(name: string, attributes: Record<string, string>): SVGElement {
  const element = document.createElementNS('http://www.w3.org/2000/svg', name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  return element;
}

function render(): void {
  if (!current) return;
  const layer = config.layers.find((l) => l.layer === layerSelect.value) ?? config.layers[0];
  const means = current.means.get(layer.layer)!;
  const order = Array.from(means.keys()).sort((a, b) => means[b] - means[a] || a - b);
  const top = order.slice(0, config.top);
  // Bar chart: one bar per channel, the top ones highlighted (as the probe command draws it).
  const width = 720;
  const height = 180;
  const max = Math.max(...means, 1e-9);
  const min = Math.min(0, ...means);
  const bar = width / means.length;
  const y = (v: number) => ((max - v) / (max - min)) * (height - 10) + 5;
  const highlight = new Set(top);
  // Built as elements: the layer name comes from the model (an ONNX node name may hold markup).
  const svg = svgElement('svg', { viewBox: `0 0 ${width} ${height}`, width: '100%', role: 'img', 'aria-label': `Mean activation of the ${means.length} filters of ${layer.name}; the highest is filter ${top[0]}` });
  svg.append(
    ...Array.from(means, (m, i) =>
      svgElement('rect', { x: (i * bar).toFixed(2), y: Math.min(y(m), y(0)).toFixed(2), width: Math.max(bar * 0.9, 0.5).toFixed(2), height: Math.abs(y(m) - y(0)).toFixed(2), fill: highlight.has(i) ? '#c2410c' : '#4c6ef5' }),
    ),
    svgElement('line', { x1: '0', x2: String(width), y1: String(y(0)), y2: String(y(0)), stroke: '#999' }),
  );
  document.getElementById('probe-chart')!.replaceChildren(svg);
  const body = document.getElementById('probe-top')!;
  body.replaceChildren(
    ...top.map((index, rank) => {
      const info = layer.filters.find((f) => f.index === index);
      const row = document.createElement('tr');
      row.dataset.filter = String(index);
      row.dataset.mean = String(means[index]);
      const cells = [String(rank + 1), '', '', num(means[index], 4), info?.label ?? ''].map((text) => {
        const td = document.createElement('td');
        td.textContent = text;
        return td;
      });
      cells[0].className = 'num';
      cells[3].className = 'num';
      if (info?.href) {
        const link = document.createElement('a');
        link.href = info.href;
        link.textContent = `filter ${index}`;
        cells[1].append(link);
      } else cells[1].textContent = `filter ${index}`;
      if (info?.src) {
        const img = document.createElement('img');
        img.src = info.src;
        if (info.srcset) img.srcset = info.srcset;
        img.width = 64;
        img.height = 64;
        img.alt = '';
        cells[2].append(img);
      }
      row.append(...cells);
      return row;
    }),
  );
  results.hidden = false;
  say(`${current.name}: ${means.length} filters of ${layer.name}, computed in this browser (${current.provider}).`);
  root.dataset.state = 'done';
}

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) void probe(file);
});
layerSelect.addEventListener('change', render);
halfBox?.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  if (file) void probe(file);
});
for (const type of ['dragenter', 'dragover']) drop.addEventListener(type, (event) => { event.preventDefault(); drop.classList.add('over'); });
for (const type of ['dragleave', 'drop']) drop.addEventListener(type, () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  const file = (event as DragEvent).dataTransfer?.files?.[0];
  if (file) void probe(file);
});
root.dataset.state = 'ready';
