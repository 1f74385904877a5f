/** The site's pure helpers: URL segments for odd names, URLs under a base, image sizes, atlas loading errors. */
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignSlugs, RESERVED_IN_ATLAS, slugify } from '../../site/src/lib/slug.js';
import { encodePath, makeUrls, normaliseBase } from '../../site/src/lib/urls.js';
import { imageSize } from '../../site/src/lib/image-size.js';
import { atlasFilePath, referencedFiles } from '../../site/src/lib/files.js';
import { imageRef } from '../../site/src/lib/images.js';
import { loadSiteData, probeLayer } from '../../site/src/lib/load.js';
import type { SiteAtlas } from '../../site/src/lib/site-types.js';
import type { Atlas, AtlasProbe } from '../../pipeline/schema/atlas.js';
import { renderProbeChart } from '../../pipeline/render/chart.js';
import { unsafeSvg } from '../../site/src/lib/publish.js';
import { facetValue } from '../../site/src/lib/format.js';
import { HALF_OFFERED_FROM, offeredHalf } from '../../site/src/lib/probe-model.js';

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'filter-atlas-site-lib-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe('slugs', () => {
  it('keeps readable names and makes odd ones safe path segments', () => {
    expect(slugify('features.40')).toBe('features.40');
    expect(slugify('conv2d_12')).toBe('conv2d_12');
    expect(slugify('/features/features.0/Conv_output_0')).toBe('features-features.0-conv_output_0');
    expect(slugify('..')).toBe('x');
    expect(slugify('.hidden')).toBe('hidden');
    expect(slugify('a b?#c')).toBe('a-b-c');
  });

  it('never gives two names one slug and never shadows a route', () => {
    const slugs = assignSlugs(['Conv1', 'conv1', 'conv1-2', 'probes'], RESERVED_IN_ATLAS);
    expect([...slugs.values()]).toEqual(['conv1', 'conv1-2', 'conv1-2-2', 'probes-1']);
  });
});

describe('urls', () => {
  const atlas = { slug: 'darknet' } as SiteAtlas;
  const layer = { slug: 'features.40', layer: {} } as never;

  it('puts every URL under the base', () => {
    expect(normaliseBase(undefined)).toBe('/');
    expect(normaliseBase('atlas')).toBe('/atlas/');
    expect(normaliseBase('/a/b//')).toBe('/a/b/');
    const urls = makeUrls('/atlas');
    expect(urls.filter(atlas, layer, 7)).toBe('/atlas/darknet/features.40/7/');
    expect(urls.search('great white shark')).toBe('/atlas/search/?q=great%20white%20shark');
    expect(urls.file(atlas, 'layers/a b/#1.webp')).toBe('/atlas/files/darknet/layers/a%20b/%231.webp');
    expect(encodePath('a\\b//c')).toBe('a/b/c');
  });

  it('refuses atlas paths that leave the atlas folder', () => {
    const site = { dir: join(tmp, 'atlas') } as SiteAtlas;
    expect(atlasFilePath(site, 'x/y.png')).toBe(join(tmp, 'atlas', 'x', 'y.png'));
    expect(() => atlasFilePath(site, '../secret.png')).toThrow(/expected file paths relative to the atlas folder, inside it, received "..\/secret.png"/);
    expect(() => atlasFilePath(site, '/etc/passwd')).toThrow(/inside it/);
  });

  it('names the atlas and the file when a referenced image is missing', async () => {
    const site = { dir: join(tmp, 'atlas'), slug: 'a' } as SiteAtlas;
    await expect(imageRef(makeUrls('/'), site, 'files/k/thumb.webp')).rejects.toThrow(
      `${join(tmp, 'atlas', 'atlas.json')}: expected the file it references, "files/k/thumb.webp", received no such file. The atlas folder is incomplete`,
    );
  });
});

describe('imageSize', () => {
  it('reads PNG, lossy and lossless WebP, JPEG and SVG sizes', async () => {
    const image = sharp({ create: { width: 37, height: 21, channels: 3, background: '#3a6' } });
    const files: [string, Buffer | string][] = [
      ['a.png', await image.clone().png().toBuffer()],
      ['a.webp', await image.clone().webp({ quality: 50 }).toBuffer()],
      ['b.webp', await image.clone().webp({ lossless: true }).toBuffer()],
      ['c.webp', await sharp({ create: { width: 37, height: 21, channels: 4, background: '#3a68' } }).webp({ quality: 50 }).toBuffer()],
      ['a.jpg', await image.clone().jpeg().toBuffer()],
      ['a.svg', '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 37 21"></svg>'],
    ];
    for (const [name, data] of files) {
      await writeFile(join(tmp, name), data);
      expect(await imageSize(join(tmp, name)), name).toEqual({ width: 37, height: 21 });
    }
  });
});

describe('unsafeSvg', () => {
  const svg = (inner: string, attributes = '') => `<svg xmlns="http://www.w3.org/2000/svg" width="4" height="4"${attributes}>${inner}</svg>`;

  it("passes the probe charts the pipeline draws, labels with markup characters included", () => {
    const chart = renderProbeChart({ means: [1, 3, 2], top: [{ filter: 1, mean: 3 }], title: 'cat<img src=x onerror=alert(1)>.png & "more"', labels: ['a<b', 'c&d', 'e>f'] });
    expect(unsafeSvg(chart)).toBeUndefined();
    expect(unsafeSvg(`<?xml version="1.0" encoding="UTF-8"?>\n<!-- a comment -->${svg('<g><rect width="1" height="1"/><text x="1">a &lt; b</text></g>')}`)).toBeUndefined();
  });

  it('refuses anything that could run script, link or load on the site origin, and markup it cannot read', () => {
    expect(unsafeSvg(svg('<script>alert(1)</script>'))).toBe('a <script> element');
    expect(unsafeSvg(svg('<SCRIPT>alert(1)</SCRIPT>'))).toBe('a <SCRIPT> element');
    expect(unsafeSvg(svg('<rect/>', ' onload="alert(1)"'))).toBe('an event handler (onload)');
    expect(unsafeSvg(svg('<foreignObject><div/></foreignObject>'))).toBe('a <foreignObject> element');
    expect(unsafeSvg(svg('<a xlink:href="javascript:alert(1)"><text>x</text></a>'))).toBe('a <a> element');
    expect(unsafeSvg(svg('<text xlink:href="https://example.com/x">x</text>'))).toBe('a link (xlink:href)');
    expect(unsafeSvg(svg('<rect style="fill: url(https://example.com/x)"/>'))).toBe('an external reference in style');
    expect(unsafeSvg(svg('<animate attributeName="href" to="javascript:alert(1)"/>'))).toBe('a <animate> element');
    expect(unsafeSvg(`<!DOCTYPE svg [<!ENTITY x "y">]>${svg('')}`)).toMatch(/^markup that is not a plain tag/);
    expect(unsafeSvg(svg('<text><![CDATA[<script>alert(1)</script>]]></text>'))).toMatch(/^markup that is not a plain tag/);
    // A `>` inside a quoted value must not end the tag early and hide what follows.
    expect(unsafeSvg(svg('<rect title="a>b" onclick="alert(1)"/>'))).toBe('an event handler (onclick)');
    expect(unsafeSvg('<html><body>not an svg</body></html>')).toBe('a <html> element');
    expect(unsafeSvg('plain text')).toBe('no <svg> element');
  });
});

describe('facetValue', () => {
  it('leaves plain values alone and puts an invisible word joiner after every < and &', () => {
    expect(facetValue('great white shark')).toBe('great white shark');
    expect(facetValue('tench<img src=x> &lt;b&gt;')).toBe('tench<\u2060img src=x> &\u2060lt;b&\u2060gt;');
  });
});

describe('loadSiteData', () => {
  it('names the folder and the fix when there is no atlas', async () => {
    await expect(loadSiteData(join(tmp, 'nothing'))).rejects.toThrow(
      `output folder ${join(tmp, 'nothing')}: expected a folder of atlases (<atlas-id>/atlas.json), received ENOENT. Build an atlas first`,
    );
    await mkdir(join(tmp, 'empty'));
    await expect(loadSiteData(join(tmp, 'empty'))).rejects.toThrow('expected at least one <atlas-id>/atlas.json, received none');
  });

  it('reports the schema version and invalid fields of atlas.json', async () => {
    await mkdir(join(tmp, 'old', 'a'), { recursive: true });
    await writeFile(join(tmp, 'old', 'a', 'atlas.json'), JSON.stringify({ schemaVersion: 0 }));
    await expect(loadSiteData(join(tmp, 'old'))).rejects.toThrow('(schemaVersion): expected atlas schema version 1 or 2, received 0 (number)');
    await mkdir(join(tmp, 'bad', 'a'), { recursive: true });
    await writeFile(join(tmp, 'bad', 'a', 'atlas.json'), JSON.stringify({ schemaVersion: 1, id: 3 }));
    await expect(loadSiteData(join(tmp, 'bad'))).rejects.toThrow(/expected an atlas.json matching the atlas schema, received id: .*; and \d+ more/);
  });
});

describe('probeLayer', () => {
  const layer = (name: string, channels: number) => ({ slug: name, layer: { name, channels } }) as SiteAtlas['layers'][number];
  const site = { layers: [layer('features.30', 512), layer('features.40', 512), layer('features.20', 256), layer('conv2d_16', 1000)] } as SiteAtlas;
  const probe = (name: string, channels: number) => ({ layer: name, means: new Array<number>(channels).fill(0) }) as AtlasProbe;

  it('uses the probed layer when it was visualised', () => {
    expect(probeLayer(site, probe('conv2d_16', 1000))).toEqual({ entry: site.layers[3], exact: true });
  });

  it("reads a ReLU probe as the filters of the nearest visualised layer before it with the same channels", () => {
    expect(probeLayer(site, probe('features.42', 512))).toEqual({ entry: site.layers[1], exact: false });
    expect(probeLayer(site, probe('features.32', 512))).toEqual({ entry: site.layers[0], exact: false });
    expect(probeLayer(site, probe('features.22', 512))).toBeUndefined();
    expect(probeLayer(site, probe('classifier.1', 512))).toBeUndefined();
  });
});

describe('referencedFiles', () => {
  it("publishes the pictures of a layer's other methods too (shown side by side on the filter page)", () => {
    const flags = { dead: false, diverged: false, lowContrast: false, clippedFraction: 0 };
    const atlas = {
      layers: [
        {
          filters: [
            {
              filter: 0, key: 'a', status: 'ok', image: 'files/a/viz.png', thumb: 'files/a/thumb.webp', activation: 1, seconds: 1, flags,
              others: [{ kind: 'lucid', key: 'l', status: 'ok', image: 'files/l/viz.png', thumb: 'files/l/thumb.webp', activation: 2, seconds: 3, flags }],
            },
          ],
        },
      ],
      probes: [],
    } as unknown as Atlas;
    expect(referencedFiles(atlas).sort()).toEqual(['files/a/thumb.webp', 'files/a/viz.png', 'files/l/thumb.webp', 'files/l/viz.png']);
  });
});

describe('probe model copies', () => {
  const model = (bytes: number) =>
    ({ file: 'files/p/probe.onnx', bytes, fp16: { file: 'files/p/probe-fp16.onnx', bytes: bytes / 2, maxRelativeError: 0.002 } }) as NonNullable<Atlas['probeModel']>;
  const atlasWith = (probeModel: NonNullable<Atlas['probeModel']>) => ({ layers: [], probes: [], probeModel }) as unknown as Atlas;

  it('publishes the float16 copy only from HALF_OFFERED_FROM bytes of float32', () => {
    expect(offeredHalf(model(4_167_334))).toBeUndefined();
    expect(referencedFiles(atlasWith(model(4_167_334)))).toEqual(['files/p/probe.onnx']);
    expect(offeredHalf(model(HALF_OFFERED_FROM))?.file).toBe('files/p/probe-fp16.onnx');
    expect(referencedFiles(atlasWith(model(58_863_658)))).toEqual(['files/p/probe-fp16.onnx', 'files/p/probe.onnx']);
  });
});
