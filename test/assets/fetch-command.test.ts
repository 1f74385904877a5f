/**
 * `filter-atlas fetch`: lists assets and cache state, fetches named assets from the mirror
 * named by FILTER_ATLAS_MIRROR into FILTER_ATLAS_CACHE, and rejects unknown names.
 */
import { Command } from 'commander';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { defineFetchCommand } from '../../pipeline/cli/commands/fetch.js';
import { removeDir, sharedMirror, tempDir } from './helpers.js';

let cache: string;
let output: string[];

beforeEach(async () => {
  cache = await tempDir('cache');
  vi.stubEnv('FILTER_ATLAS_CACHE', cache);
  vi.stubEnv('FILTER_ATLAS_MIRROR', sharedMirror);
  output = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    output.push(String(chunk));
    return true;
  });
});
afterEach(async () => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  await removeDir(cache);
});

async function run(...args: string[]): Promise<string> {
  const program = new Command('filter-atlas').exitOverride();
  defineFetchCommand(program);
  await program.parseAsync(['fetch', ...args], { from: 'user' });
  return output.join('');
}

describe('filter-atlas fetch', () => {
  it('fetches a named asset, then lists it as cached', async () => {
    expect(await run('photos', '--no-progress')).toBe(`photos\t${cache}/photos\n`);
    output = [];
    const listing = await run();
    expect(listing).toMatch(/^asset +kind +files +size +state +description\n/);
    expect(listing).toMatch(/\nphotos +photos +5 +1\.8 MiB +cached +Free test photos/);
    expect(listing).toMatch(/\ndarknet-tiny +model +34 +4\.0 MiB +- +/);
    expect(listing).toContain(`\ncache: ${cache}\nsource: mirror folder ${sharedMirror}\n`);
  });

  it('rejects unknown asset names with the list of known ones', async () => {
    await expect(run('photos', 'vgg16')).rejects.toThrow(
      'fetch [assets...]: expected asset names among darknet-tiny, mobilenet-v1-0.25, vgg16_bn, imagenet-sample, photos, received "vgg16". Run `filter-atlas fetch` to list them.',
    );
  });
});
