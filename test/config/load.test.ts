import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBuild, type BuildDeps } from '../../pipeline/atlas/build.js';
import { loadConfig } from '../../pipeline/config/load.js';
import { closestNames, didYouMean } from '../../pipeline/util/suggest.js';
import { fakeModel } from '../dataset/fake.js';
import { resolveFilters } from '../../pipeline/config/filters.js';
import { defaultMethodParams } from '../../pipeline/schema/article-params.js';

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'filter-atlas-config-'));
  const file = join(dir, 'atlas.yaml');
  await writeFile(file, text);
  return file;
}

async function failure(promise: Promise<unknown>): Promise<Error> {
  const error = await promise.then(() => undefined, (e: Error) => e);
  if (!error) throw new Error('expected a failure');
  return error;
}

describe('loadConfig', () => {
  it('fills every default and merges per-layer method overrides', async () => {
    const file = await configFile('model: darknet-tiny\nlayers:\n  - conv2d_1\n  - layer: 40\n    filters: "0-3"\n    method: { scales: 3 }\nmethod:\n  stepsPerScale: 5\n');
    const config = await loadConfig(file);
    expect(config.atlas).toBe('atlas');
    expect(config.engine).toBe('ort');
    expect(config.device).toBe('auto');
    expect(config.batch).toEqual({ size: 'auto', memoryMiB: 1024, concurrency: 1 });
    expect(config.dataset).toBeNull();
    expect(config.layers[0]).toEqual({ layer: 'conv2d_1', filters: 'all', methods: [{ kind: 'article', params: { ...defaultMethodParams, stepsPerScale: 5 } }] });
    expect(config.layers[1].layer).toBe('40');
    expect(config.layers[1].methods).toEqual([{ kind: 'article', params: { ...defaultMethodParams, stepsPerScale: 5, scales: 3 } }]);
  });

  it('names the file, the line and the field of a wrong value', async () => {
    const file = await configFile('model: darknet-tiny\nlayers:\n  - layer: conv2d_1\n    filters: "3-x"\nbatch:\n  size: -2\n');
    await expect(loadConfig(file)).rejects.toThrow(`${file}:4: layers[0].filters: expected "all", or indices and ranges like "0-15,20", received "3-x".`);
    await expect(loadConfig(file)).rejects.toThrow(`${file}:6: batch.size: expected a number above 0, received -2 (number).`);
  });

  it('takes a device (auto, cpu, webgpu, cuda) and names the line of any other', async () => {
    expect((await loadConfig(await configFile('model: darknet-tiny\nlayers: [conv2d_1]\ndevice: webgpu\n'))).device).toBe('webgpu');
    const file = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\ndevice: gpu\n');
    const error = await failure(loadConfig(file));
    expect(error.message).toContain(`${file}:3: device:`);
    for (const device of ['auto', 'cpu', 'webgpu', 'cuda']) expect(error.message).toContain(device);
  });

  it('rejects unknown fields, also inside method', async () => {
    const file = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nmethod:\n  stepz: 3\n');
    await expect(loadConfig(file)).rejects.toThrow(`${file}:4: method.stepz: unknown field. Allowed here: startSize, scales,`);
    const typo = await configFile('model: darknet-tiny\nlayer: [conv2d_1]\n');
    await expect(loadConfig(typo)).rejects.toThrow(`${typo}:2: layer: unknown field. Allowed here: atlas, title,`);
    await expect(loadConfig(typo)).rejects.toThrow('Did you mean "layers"?');
  });

  it("points at the misspelt key's own line and suggests the right name", async () => {
    const text = [
      'atlas: lines', //                  1
      'model: darknet-tiny', //           2
      'layers:', //                       3
      '  - layer: conv2d_1', //           4
      'method:', //                       5
      '  scales: 3', //                   6
      '  stepPerScale: 5', //             7
      'batch:', //                        8
      '  size: 4', //                     9
      'probes: []', //                   10
      'seed: 1', //                      11
      'engine: ort', //                  12
      'datset:', //                      13
      '  source: imagenet-sample', //    14
    ].join('\n');
    const file = await configFile(text + '\n');
    const error = await failure(loadConfig(file));
    expect(error.message).toContain(`${file}:13: datset: unknown field.`);
    expect(error.message).toContain('Did you mean "dataset"?');
    expect(error.message).not.toMatch(/received\s*$/m);
    // Both problems in one run, the method's too.
    expect(error.message).toContain(`${file}: 2 problems in the config:`);
    expect(error.message).toContain(`${file}:7: method.stepPerScale: unknown field.`);
    expect(error.message).toContain('Did you mean "stepsPerScale"?');
  });

  it("reports a layer's own method problem once, at the layer", async () => {
    const file = await configFile('model: darknet-tiny\nmethod: { scales: 0 }\nlayers:\n  - layer: x\n    method: { blurSize: 4 }\n');
    const error = await failure(loadConfig(file));
    expect(error.message).toContain(`${file}: 2 problems in the config:`);
    expect(error.message).toContain(`${file}:2: method.scales: expected an integer from 1 to 30, received 0 (number).`);
    expect(error.message).toContain(`${file}:5: layers[0].method.blurSize: expected 0 (no blur) or an odd integer up to 31, received 4 (number).`);
  });

  it('says what was written, what is allowed and where, for a wrong value', async () => {
    const file = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nmethod:\n  scales: 0\nengine: onnx\n');
    const error = await failure(loadConfig(file));
    expect(error.message).toContain(`${file}:5: engine: expected one of "ort", "tfjs", received "onnx".`);
    expect(error.message).not.toMatch(/received\s*$/m);
    const method = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nmethod:\n  scales: 0\n');
    await expect(loadConfig(method)).rejects.toThrow(`${method}:4: method.scales: expected an integer from 1 to 30, received 0 (number).`);
    const missing = await configFile('model: darknet-tiny\n');
    await expect(loadConfig(missing)).rejects.toThrow('layers: expected array, but the field is missing.');
  });

  it('takes the start noise in grey levels, like --noise', async () => {
    const file = await configFile('model: darknet-tiny\nlayers: [x]\nmethod:\n  noise: [100, 200]\n');
    expect((await loadConfig(file)).methods[0]).toMatchObject({ kind: 'article', params: { noise: [100 / 255, 200 / 255] } });
    const old = await configFile('model: darknet-tiny\nlayers: [x]\nmethod:\n  noise: [0.58, 0.7]\n');
    await expect(loadConfig(old)).rejects.toThrow(`${old}:4: method.noise: expected grey levels from 0 to 255 (these look like fractions of 255`);
  });

  it('reads every path relative to the config file, output included', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'filter-atlas-config-'));
    await mkdir(join(dir, 'cfg', 'mymodel'), { recursive: true });
    await mkdir(join(dir, 'cfg', 'photos-of-mine'), { recursive: true });
    const file = join(dir, 'cfg', 'a.yaml');
    await writeFile(file, 'model: mymodel\noutput: ../atlases\nlayers: [x]\ndataset:\n  source: photos-of-mine\n');
    const config = await loadConfig(file);
    expect(config.model).toBe(join(dir, 'cfg', 'mymodel'));
    expect(config.output).toBe(join(dir, 'atlases'));
    expect(config.dataset?.source).toBe(join(dir, 'cfg', 'photos-of-mine'));
    // Not written: the command decides (--output, else ./output).
    expect((await loadConfig(await configFile('model: darknet-tiny\nlayers: [x]\n'))).output).toBeUndefined();
  });

  it('names the model line when the model is neither built in nor a path', async () => {
    const file = await configFile('layers: [x]\nmodel: darknet-tine\n');
    await expect(loadConfig(file)).rejects.toThrow(`${file}:2: model: expected a built-in model`);
    await expect(loadConfig(file)).rejects.toThrow('Did you mean "darknet-tiny"?');
  });

  it('refuses the atlas id "diffs", which the diffs folder already takes', async () => {
    const file = await configFile('atlas: diffs\nmodel: darknet-tiny\nlayers: [x]\n');
    await expect(loadConfig(file)).rejects.toThrow(`${file}:1: atlas: expected an atlas id other than "diffs"`);
    const named = join(dirname(file), 'diffs.yaml');
    await writeFile(named, 'model: darknet-tiny\nlayers: [x]\n');
    await expect(loadConfig(named)).rejects.toThrow('atlas (from the file name)');
  });

  it('puts the config line in front of errors found against the model', async () => {
    const file = await configFile('model: darknet-tiny\nlayers:\n  - layer: c1\n    filters: "0-9"\n  - layer: c3\n');
    const config = await loadConfig(file);
    const deps = {
      loadModel: async () => fakeModel(),
      createEngine: async () => {
        throw new Error('not reached');
      },
    } as unknown as BuildDeps;
    await expect(runBuild(config, deps)).rejects.toThrow(`${file}:4: layers[0].filters (layer c1): expected filter indices from 0 to 3 (the layer has 4 channels), received 4`);
    config.layers[0].filters = 'all';
    await expect(runBuild(config, deps)).rejects.toThrow(`${file}:5: layers[1].layer: layer "c3"`);
  });

  it('bounds the final image size, the engine threads and the config file size, with the field and the way out', async () => {
    const huge = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nmethod: {startSize: 1024, scales: 3, upscale: 4}\n');
    await expect(loadConfig(huge)).rejects.toThrow(
      `${huge}:3: method.scales: expected a schedule that ends at 2048 px or less (this one ends at 16384x16384 px: startSize 1024, upscale 4, 3 scales; lower one of them), received 3 (number).`,
    );
    const perLayer = await configFile('model: darknet-tiny\nlayers:\n  - layer: conv2d_1\n    method: {startSize: 600, scales: 2, upscale: 4}\n');
    await expect(loadConfig(perLayer)).rejects.toThrow(`${perLayer}:4: layers[0].method.scales: expected a schedule that ends at 2048 px or less (this one ends at 2400x2400 px`);
    const threads = await configFile('model: darknet-tiny\nlayers: [conv2d_1]\nthreads: 100000\n');
    await expect(loadConfig(threads)).rejects.toThrow(`${threads}:3: threads: expected at most 256 threads (more threads than cores only cost memory)`);
    // 10M filter indices (tens of MB of YAML) would exhaust the heap while parsing: refused by size first.
    const big = await configFile(`model: darknet-tiny\nlayers:\n  - layer: conv2d_1\n    filters: [${'1, '.repeat(400_000)}1]\n`);
    await expect(loadConfig(big)).rejects.toThrow(`${big}: expected a config file of at most 256 KiB, received 1200065 bytes. Write long filter lists as ranges ("0-999,1500") or "all".`);
  });

  it('reports YAML syntax errors and missing files', async () => {
    await expect(loadConfig(await configFile('model: [unclosed\n'))).rejects.toThrow(/:\d+: expected valid YAML/);
    await expect(loadConfig('/no/such/config.yaml')).rejects.toThrow('/no/such/config.yaml: expected a readable YAML config file, received ENOENT');
  });
});

describe('did you mean', () => {
  it('suggests close names only', () => {
    expect(closestNames('stepPerScale', ['startSize', 'stepsPerScale', 'scales'])).toEqual(['stepsPerScale']);
    expect(closestNames('zzz', ['dataset', 'model'])).toEqual([]);
    expect(didYouMean('datset', ['dataset', 'atlas'])).toBe('Did you mean "dataset"?');
    expect(didYouMean('zzz', ['dataset'])).toBe('');
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
