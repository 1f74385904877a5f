/**
 * `build --model/--atlas/--title` (pipeline/config/overrides.ts through loadConfig): the values replace
 * the config's fields as if written there (the title made from the model, a config without `model`),
 * pass the same schema as the fields with the same messages, the flag in place of "file:line: field",
 * and are checked before the config file is read.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../pipeline/config/load.js';
import { checkOverrides } from '../../pipeline/config/overrides.js';

async function configFile(text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'filter-atlas-overrides-'));
  const file = join(dir, 'atlas.yaml');
  await writeFile(file, text);
  return file;
}

const model = (value: string) => ({ model: { value, where: '--model' } });
const atlas = (value: string) => ({ atlas: { value, where: '--atlas' } });
const title = (value: string) => ({ title: { value, where: '--title' } });

describe('config overrides', () => {
  it('replace model, atlas and title; the default title follows the model given', async () => {
    const file = await configFile('atlas: mine\ntitle: Mine\nmodel: mobilenet-v1-0.25\nlayers: [x]\n');
    const plain = await loadConfig(file);
    expect(plain).toMatchObject({ atlas: 'mine', title: 'Mine', model: 'mobilenet-v1-0.25' });
    const replaced = await loadConfig(file, { ...model('darknet-tiny'), ...atlas('nightly-v2'), ...title('Nightly v2') });
    expect(replaced).toMatchObject({ atlas: 'nightly-v2', title: 'Nightly v2', model: 'darknet-tiny' });
    // Everything else as written.
    expect({ ...replaced, atlas: 'mine', title: 'Mine', model: 'mobilenet-v1-0.25', locate: undefined }).toEqual({ ...plain, locate: undefined });

    const untitled = await configFile('model: mobilenet-v1-0.25\nlayers: [x]\n');
    expect((await loadConfig(untitled, model('darknet-tiny'))).title).toBe('darknet-tiny atlas');
    // A config may leave the model to the flag (one config, many model versions).
    expect((await loadConfig(await configFile('layers: [x]\n'), model('darknet-tiny'))).model).toBe('darknet-tiny');
  });

  it('take a model path relative to the current folder, not to the config file', async () => {
    const file = await configFile('model: darknet-tiny\nlayers: [x]\n');
    const here = relative(process.cwd(), resolve('test/fixtures/tiny.yaml'));
    expect((await loadConfig(file, model(here))).model).toBe(resolve('test/fixtures/tiny.yaml'));
    await expect(loadConfig(file, model('no-such-model.onnx'))).rejects.toThrow(
      `--model: expected a built-in model (darknet-tiny, mobilenet-v1-0.25, vgg16_bn, vgg16) or a path relative to the current folder, received "no-such-model.onnx", which is neither (no ${resolve('no-such-model.onnx')})`,
    );
    await expect(loadConfig(file, model('darknet-tine'))).rejects.toThrow('Did you mean "darknet-tiny"?');
  });

  it("refuse what the config's fields refuse, with the same words and the flag's name", async () => {
    const file = await configFile('atlas: "a b"\nmodel: ""\nlayers: [x]\n');
    await expect(loadConfig(file)).rejects.toThrow(`${file}:1: atlas: expected letters, digits, ".", "_" or "-", received "a b".`);
    await expect(loadConfig(file)).rejects.toThrow(`${file}:2: model: expected a non-empty text, received "".`);
    expect(() => checkOverrides(atlas('a b'))).toThrow('--atlas: expected letters, digits, ".", "_" or "-", received "a b".');
    expect(() => checkOverrides(atlas('../up'))).toThrow('--atlas: expected letters, digits, ".", "_" or "-", received "../up".');
    expect(() => checkOverrides(model(''))).toThrow('--model: expected a non-empty text, received "".');
    expect(() => checkOverrides(atlas('Diffs'))).toThrow('--atlas: expected an atlas id other than "diffs", "histories", "model-store", received "Diffs". <output>/diffs, <output>/histories and <output>/model-store hold other things');
    expect(() => checkOverrides({ ...title(''), ...atlas('v1.2_b-3') })).not.toThrow();
  });

  it('are checked before the config file is read', async () => {
    await expect(loadConfig('/no/such/config.yaml', atlas('a/b'))).rejects.toThrow('--atlas: expected letters');
    await expect(loadConfig('/no/such/config.yaml', model('darknet-tine'))).rejects.toThrow('--model: expected a built-in model');
    await expect(loadConfig('/no/such/config.yaml', atlas('fine'))).rejects.toThrow('/no/such/config.yaml: expected a readable YAML config file');
  });
});
