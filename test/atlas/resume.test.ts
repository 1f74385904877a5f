/**
 * A build killed midway resumes without recomputing finished filters, and ends with the same
 * bytes as a build that was never interrupted. Real model (darknet-tiny), real CLI process.
 */
import { spawn, execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { atlasSchema } from '../../pipeline/schema/atlas.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../bin/filter-atlas.js');

const CONFIG = `
atlas: resume
model: darknet-tiny
seed: 3
layers:
  - layer: leaky_re_lu_2
    filters: "0-15"
method: { scales: 2, stepsPerScale: 3 }
batch: { size: 2 }
`;

async function build(config: string, output: string) {
  const { stdout } = await run(process.execPath, [CLI, 'build', config, '--output', output, '--json'], { env: process.env });
  return JSON.parse(stdout.trim().split('\n').pop()!) as { filtersComputed: number; filtersReused: number };
}

async function vizRecords(dir: string): Promise<string[]> {
  try {
    // Finished records only: a write in flight is a `<record>.<pid>.<random>.tmp` file.
    return (await readdir(join(dir, 'records'))).filter((name) => name.startsWith('viz-') && name.endsWith('.json'));
  } catch {
    return [];
  }
}

async function pngsByFilter(dir: string): Promise<Map<number, Buffer>> {
  const atlas = atlasSchema.parse(JSON.parse(await readFile(join(dir, 'atlas.json'), 'utf8')));
  const out = new Map<number, Buffer>();
  for (const filter of atlas.layers[0].filters) out.set(filter.filter, await readFile(join(dir, filter.image!)));
  return out;
}

describe('build: kill and resume', () => {
  it('resumes where it stopped and gives the same images as an uninterrupted build', async () => {
    const work = await mkdtemp(join(tmpdir(), 'filter-atlas-resume-'));
    const config = join(work, 'resume.yaml');
    await writeFile(config, CONFIG);
    const killedOutput = join(work, 'killed');
    const atlasDir = join(killedOutput, 'resume');

    const child = spawn(process.execPath, [CLI, 'build', config, '--output', killedOutput], { env: process.env, stdio: 'ignore' });
    const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
    while ((await vizRecords(atlasDir)).length < 4) {
      if (child.exitCode !== null) throw new Error('build finished before it could be killed');
      await new Promise((r) => setTimeout(r, 100));
    }
    child.kill('SIGKILL');
    await exited;

    const doneAtKill = (await vizRecords(atlasDir)).length;
    expect(doneAtKill).toBeGreaterThanOrEqual(4);
    expect(doneAtKill).toBeLessThan(16);
    // atlas.json is valid at any moment: partial, marked incomplete.
    const partial = atlasSchema.parse(JSON.parse(await readFile(join(atlasDir, 'atlas.json'), 'utf8')));
    expect(partial.complete).toBe(false);

    const resumed = await build(config, killedOutput);
    // Whole batches of 2 are reused; a batch cut by the kill is recomputed in full.
    expect(resumed.filtersReused).toBeGreaterThanOrEqual(doneAtKill - 1);
    expect(resumed.filtersReused + resumed.filtersComputed).toBe(16);
    expect(resumed.filtersComputed).toBeLessThanOrEqual(16 - 4);

    const again = await build(config, killedOutput);
    expect(again).toMatchObject({ filtersComputed: 0, filtersReused: 16 });

    const fresh = join(work, 'fresh');
    await build(config, fresh);
    const [a, b] = await Promise.all([pngsByFilter(atlasDir), pngsByFilter(join(fresh, 'resume'))]);
    expect([...a.keys()]).toEqual([...Array(16).keys()]);
    for (const [filter, bytes] of a) expect(bytes.equals(b.get(filter)!), `filter ${filter}`).toBe(true);
  });
});
