/**
 * The disk fails under a real build (test/fixtures/tiny.yaml), through inject/fs-faults.mjs:
 * - the output disk fills up at two points (after 20 % and 80 % of the bytes an atlas holds):
 *   a clear error naming the folder, no corrupt record, and once there is space the rerun completes
 *   with the atlas of an uninterrupted build;
 * - the cache disk fills up during a download: reported as a full disk, not a dropped connection;
 * - a read-only output folder: a finished atlas builds again (nothing to write), a changed one and a
 *   new one fail with a clear error. The same runs on a real read-only folder: a bind mount where this
 *   machine lets a user namespace mount (`unshare -rm`), else a folder without write permission (built
 *   as nobody when the tests run as root).
 */
import { execFileSync } from 'node:child_process';
import { chmod, cp, mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cli, compareAtlases, consistencyProblems, filesUnder, isUserError, recordFigures, TINY, type Figures } from './harness.js';

let work: string;
let reference: string;
let referenceBytes = 0;
const figures: Required<Pick<Figures, 'faultsInjected' | 'bytesCompared' | 'bytesLost'>> & { notes: string[] } = { faultsInjected: 0, bytesCompared: 0, bytesLost: 0, notes: [] };

/** Errors the injected process met (its FAULT_REPORT file). */
async function injected(report: string): Promise<number> {
  return (JSON.parse(await readFile(report, 'utf8')) as { injected: number }).injected;
}

/** One fault scenario verified; the errors it injected go to the notes. */
async function count(scenario: string, report?: string): Promise<void> {
  figures.faultsInjected += 1;
  figures.notes.push(report ? `${scenario}: ${await injected(report)} error(s) injected` : scenario);
}

/** tiny.yaml with another seed: an atlas whose every filter must be computed again. */
async function changedConfig(): Promise<string> {
  const file = join(work, 'tiny-seed-8.yaml');
  await writeFile(file, (await readFile(TINY, 'utf8')).replace(/^seed: 7$/m, 'seed: 8'));
  return file;
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-disk-'));
  const built = await cli(['build', TINY, '--output', join(work, 'reference')]);
  expect(built.code, built.stderr).toBe(0);
  reference = join(work, 'reference', 'tiny');
  for (const file of await filesUnder(reference)) referenceBytes += (await readFile(join(reference, file))).length;
});

describe('disk full', () => {
  it.each([0.2, 0.8])('output disk full after %s of the bytes: clear error, no corrupt record, the rerun completes', async (fraction) => {
    const output = join(work, `full-${fraction}`);
    const report = join(work, `full-${fraction}.json`);
    const bytes = Math.round(referenceBytes * fraction);
    const failed = await cli(['build', TINY, '--output', output], { inject: true, env: { FAULT_DISK_DIR: output, FAULT_DISK_BYTES: String(bytes), FAULT_REPORT: report } });
    expect(isUserError(failed), failed.stderr).toBe(true);
    expect(failed.stderr).toMatch(new RegExp(`filter-atlas: folder ${output}.*: expected free disk space to write files, received no space left on the device \\(ENOSPC\\)\\. Free some space`));
    await count(`output disk full after ${bytes} bytes`, report);
    expect(await consistencyProblems(join(output, 'tiny'))).toEqual([]);

    const resumed = await cli(['build', TINY, '--output', output]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const comparison = await compareAtlases(reference, join(output, 'tiny'));
    expect(comparison.differences).toEqual([]);
    figures.bytesCompared += comparison.bytes;
    figures.bytesLost += comparison.bytesLost;
  });

  it('cache disk full during a download: reported as a full disk, and the next fetch completes', async () => {
    const cache = join(work, 'cache');
    const report = join(work, 'cache-full.json');
    const env = { FILTER_ATLAS_CACHE: cache };
    const failed = await cli(['fetch', 'darknet-tiny', '--no-progress'], { inject: true, env: { ...env, FAULT_DISK_DIR: cache, FAULT_DISK_BYTES: '1000000', FAULT_REPORT: report } });
    expect(isUserError(failed), failed.stderr).toBe(true);
    expect(failed.stderr).toContain(`filter-atlas: folder ${join(cache, '.partial')}: expected free disk space to write files, received no space left on the device (ENOSPC)`);
    expect(failed.stderr).not.toContain('connection');
    await count('cache disk full during a download', report);
    const fetched = await cli(['fetch', 'darknet-tiny', '--no-progress'], { env });
    expect(fetched.code, fetched.stderr).toBe(0);
    expect((await filesUnder(join(cache, '.partial'))).length).toBe(0);
  });
});

describe('read-only output folder', () => {
  let output: string;
  beforeAll(async () => {
    output = join(work, 'readonly');
    await cp(join(work, 'reference'), output, { recursive: true });
  });

  it('a finished atlas builds again without writing; a changed or new one fails naming the folder', async () => {
    const report = join(work, 'readonly.json');
    const env = { FAULT_READONLY_DIR: output, FAULT_REPORT: report };
    const again = await cli(['build', TINY, '--output', output, '--json'], { inject: true, env });
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ filtersComputed: 0, filtersReused: 16, datasetScanned: false, probesComputed: 0 });
    expect(await injected(report)).toBe(0);

    const changed = await cli(['build', await changedConfig(), '--output', output], { inject: true, env });
    expect(isUserError(changed), changed.stderr).toBe(true);
    expect(changed.stderr).toMatch(new RegExp(`filter-atlas: folder ${output}/tiny.*: expected a writable folder, received a read-only file system \\(EROFS\\)\\. Make it writable`));
    await count('read-only output folder, changed atlas', report);

    const fresh = await cli(['build', TINY, '--output', join(output, 'new')], { inject: true, env });
    expect(isUserError(fresh), fresh.stderr).toBe(true);
    expect(fresh.stderr).toContain(`filter-atlas: folder ${output}`);
    expect(fresh.stderr).toContain('received a read-only file system (EROFS)');
    await count('read-only output folder, new atlas', report);
    expect(await compareAtlases(reference, join(output, 'tiny'))).toMatchObject({ differences: [] });
  });

  it('on a real read-only folder: a bind mount where user namespaces allow one, else a folder without write permission', async () => {
    const mounted = join(work, 'mounted');
    await mkdir(mounted);
    await cp(join(work, 'reference'), mounted, { recursive: true });
    const script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"';
    const mountable = (() => {
      try {
        execFileSync('unshare', ['-rm', 'sh', '-c', script, 'sh', mounted, 'true'], { stdio: 'ignore' });
        return true;
      } catch {
        return false;
      }
    })();
    // Containers often deny user namespaces: then the kernel's own refusal comes from permissions,
    // for a user who is not root (root writes anyway), so as root the build runs as nobody.
    let prefix: string[];
    let refusal: string;
    const env: NodeJS.ProcessEnv = { ...process.env };
    if (mountable) {
      prefix = ['unshare', '-rm', 'sh', '-c', script, 'sh', mounted];
      refusal = 'received a read-only file system (EROFS)';
    } else {
      execFileSync('chmod', ['-R', 'a-w', mounted]);
      prefix = [];
      if (process.getuid?.() === 0) {
        await chmod(work, 0o755);
        const cache = join(work, 'nobody-cache');
        await mkdir(cache);
        await chmod(cache, 0o777);
        Object.assign(env, { FILTER_ATLAS_CACHE: cache, HOME: cache });
        prefix = ['setpriv', '--reuid', '65534', '--regid', '65534', '--clear-groups'];
      }
      refusal = 'received permission denied (EACCES)';
    }
    const run = (config: string) => {
      const [command, ...args] = [...prefix, process.execPath, CLI, 'build', config, '--output', mounted, '--json'];
      try {
        const stdout = execFileSync(command, args, { env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
        return { code: 0, stdout, stderr: '' };
      } catch (error) {
        const failure = error as { status: number; stdout: string; stderr: string };
        return { code: failure.status, stdout: failure.stdout, stderr: failure.stderr };
      }
    };
    const how = mountable ? 'real read-only bind mount' : `folder without write permission${prefix.length > 0 ? ', built as nobody' : ''}`;
    const again = run(TINY);
    expect(again.code, again.stderr).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ filtersComputed: 0, datasetScanned: false });
    const changed = run(await changedConfig());
    expect(isUserError({ ...changed, signal: null }), changed.stderr).toBe(true);
    expect(changed.stderr).toContain(refusal);
    execFileSync('chmod', ['-R', 'u+w', mounted]);
    await count(`${how}, changed atlas`);
  });
});

afterAll(async () => {
  await recordFigures('disk', figures);
});
