import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config/load.js';
import { resolveFilters } from '../../pipeline/config/filters.js';
import { defaultMethodParams } from '../../pipeline/visualize/params.js';

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'filter-atlas-config-'));
  const file = join(dir, 'atlas.yaml');
  await writeFile(file, text);
  return file;
}

describe('loadConfig', () => {
  it('fills every default and merges per-layer method overrides', async () => {
    const file = await configFile('model: darknet-tiny\nlayers:\n  - conv2d_1\n  - layer: 40\n    filters: "0-3"\n    method: { scales: 3 }\nmethod:\n  stepsPerScale: 5\n');
    const config = await loadConfig(file);
    expect(config.atlas).toBe('atlas');
    expect(config.engine).toBe('ort');
    expect(config.batch).toEqual({ size: 'auto', memoryMiB: 1024, concurrency: 1 });
    expect(config.dataset).toBeNull();
    expect(config.layers[0]).toEqual({ layer: 'conv2d_1', filters: 'all', method: { ...defaultMethodParams, stepsPerScale: 5 } });
    expect(config.layers[1].layer).toBe('40');
    expect(config.layers[1].method).toEqual({ ...defaultMethodParams, stepsPerScale: 5, scales: 3 });
  });

  it('names the file, the line and the field of a wrong value', async () => {
    const file = await configFile('model: darknet-tiny\nlayers:\n  - layer: conv2d_1\n    filters: "3-x"\nbatch:\n  size: -2\n');
    await expect(loadConfig(file)).rejects.toThrow(`${file}:4: field layers[0]`);
    await expect(loadConfig(file)).rejects.toThrow(`${file}:6: field batch.size`);
  });

  it('rejects unknown fields, also inside method', async () => {
    const file = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nmethod:\n  stepz: 3\n');
    await expect(loadConfig(file)).rejects.toThrow(/:4: field method(\.stepz)?: .*stepz/);
    const typo = await configFile('model: darknet-tiny\nlayer: [conv2d_1]\n');
    await expect(loadConfig(typo)).rejects.toThrow(/field (layers|\(top level\))/);
  });

  it('bounds the final image size, the engine threads and the config file size, with the field and the way out', async () => {
    const huge = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nmethod: {startSize: 1024, scales: 3, upscale: 4}\n');
    await expect(loadConfig(huge)).rejects.toThrow(
      `${huge}:3: field method.scales: the schedule ends at 16384x16384 px (startSize 1024, upscale 4, 3 scales); expected at most 2048 px: lower startSize, scales or upscale`,
    );
    const perLayer = await configFile('model: darknet-tiny\nlayers:\n  - layer: conv2d_1\n    method: {startSize: 600, scales: 2, upscale: 4}\n');
    await expect(loadConfig(perLayer)).rejects.toThrow(`${perLayer}:4: field layers[0].method.scales: the schedule ends at 2400x2400 px`);
    const threads = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nthreads: 100000\n');
    await expect(loadConfig(threads)).rejects.toThrow(`${threads}:3: field threads: expected at most 256 threads (more threads than cores only cost memory)`);
    // 10M filter indices (tens of MB of YAML) would exhaust the heap while parsing: refused by size first.
    const big = await configFile(`model: darknet-tiny\nlayers:\n  - layer: conv2d_1\n    filters: [${'1, '.repeat(400_000)}1]\n`);
    await expect(loadConfig(big)).rejects.toThrow(`${big}: expected a config file of at most 1024 KiB, received 1200065 bytes. Write long filter lists as ranges ("0-999,1500") or "all".`);
  });

  it('reports YAML syntax errors and missing files', async () => {
    await expect(loadConfig(await configFile('model: [unclosed\n'))).rejects.toThrow(/expected valid YAML/);
    await expect(loadConfig('/no/such/config.yaml')).rejects.toThrow('/no/such/config.yaml: expected a readable YAML config file, received ENOENT');
  });
});

describe('resolveFilters', () => {
  it('expands all, lists and ranges', () => {
    expect(resolveFilters('all', 4, 'f')).toEqual([0, 1, 2, 3]);
    expect(resolveFilters('0-2, 5', 8, 'f')).toEqual([0, 1, 2, 5]);
    expect(resolveFilters([3, 1, 3], 8, 'f')).toEqual([1, 3]);
  });
  it('names the channel count when out of range', () => {
    expect(() => resolveFilters('10-12', 8, 'config.yaml: layers[0].filters')).toThrow(
      'config.yaml: layers[0].filters: expected filter indices from 0 to 7 (the layer has 8 channels), received 10',
    );
  });
});
