/** loadModel routing and its errors; the `models` and `layers` commands. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { defineLayersCommand } from '../../pipeline/cli/commands/layers.js';
import { defineModelsCommand } from '../../pipeline/cli/commands/models.js';
import { loadModel } from '../../pipeline/model/load.js';

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'filter-atlas-load-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});
afterEach(() => {
  vi.unstubAllEnvs();
  vi.restoreAllMocks();
});

describe('loadModel', () => {
  it('lists the built-in models for an unknown name', async () => {
    await expect(loadModel('resnet50')).rejects.toThrow(
      'model "resnet50": expected a built-in model (darknet-tiny, mobilenet-v1-0.25, vgg16_bn, vgg16) or the path of a .onnx, model.json or .safetensors file, received no such model or file',
    );
  });

  it('refuses unknown file kinds, folders without model.json and a bad --arch', async () => {
    const path = join(folder, 'weights.pth');
    await writeFile(path, 'x');
    await expect(loadModel(path)).rejects.toThrow(`${path}: expected a .onnx file, a TensorFlow.js model.json (or its folder) or a .safetensors file with --arch, received a .pth file`);
    await expect(loadModel(folder)).rejects.toThrow(`${folder}: expected a folder holding a TensorFlow.js model.json, received a folder without model.json`);
    await expect(loadModel(path, { arch: 'resnet' as 'vgg16' })).rejects.toThrow('--arch: expected one of vgg16_bn, vgg16, received "resnet"');
  });

  it('explains that vgg16 needs a weights file', async () => {
    await expect(loadModel('vgg16')).rejects.toThrow(/^model "vgg16": expected a weights file.*--arch vgg16$/);
  });

  it('says where vgg16_bn weights come from and how to pass a local file when they cannot be fetched', async () => {
    vi.stubEnv('FILTER_ATLAS_MIRROR', folder); // a mirror without models/vgg16_bn/
    vi.stubEnv('FILTER_ATLAS_CACHE', join(folder, 'cache'));
    const error = (await loadModel('vgg16_bn').then(() => undefined, (e: unknown) => e)) as Error;
    expect(error.message).toMatch(/^model "vgg16_bn": expected its ImageNet weights, downloaded once \(554 MB\) from huggingface\.co .*, received a failed download: asset "vgg16_bn", file "model\.safetensors"/);
    expect(error.message).toContain('pass the file: filter-atlas layers vgg16_bn.safetensors --arch vgg16_bn');
  });
});

async function run(define: (program: Command) => void, args: string[]): Promise<string> {
  const out: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
  const program = new Command('filter-atlas').exitOverride();
  define(program);
  await program.parseAsync(['node', 'filter-atlas', ...args]);
  vi.restoreAllMocks();
  return out.join('');
}

describe('commands', () => {
  it('models --json lists the built-ins with input size, classes and cache state', async () => {
    const rows = JSON.parse(await run(defineModelsCommand, ['models', '--json'])) as Array<Record<string, unknown>>;
    expect(rows.map((r) => r.name)).toEqual(['darknet-tiny', 'mobilenet-v1-0.25', 'vgg16_bn', 'vgg16']);
    expect(rows[0]).toMatchObject({ inputSize: [224, 224], classes: 1000, format: 'tfjs-layers', weights: 'download' });
    expect(typeof rows[0].cached).toBe('boolean');
    expect(rows[3]).toMatchObject({ weights: 'your file', cached: false });
  });

  it('layers prints a table and JSON with channels, output sizes and receptive fields', async () => {
    const table = await run(defineLayersCommand, ['layers', 'darknet-tiny']);
    expect(table).toContain('darknet-tiny (tfjs-layers, 1,046,488 parameters), input 224x224, output global_average_pooling2d_1');
    expect(table).toMatch(/\n49\s+conv2d_16\s+conv\s+1000\s+14x14\s+\d+ px \(stride 16\)\n/);
    const json = JSON.parse(await run(defineLayersCommand, ['layers', 'darknet-tiny', '--json']));
    expect(json).toMatchObject({ model: 'darknet-tiny', inputSize: [224, 224], parameters: 1_046_488 });
    expect(json.layers[3]).toEqual({ index: 3, name: 'max_pooling2d_1', aliases: [], type: 'maxPool', channels: 16, height: 112, width: 112, shape: [16, 112, 112], layer: true, receptiveField: { size: 4, jump: 2 } });
  });
});
