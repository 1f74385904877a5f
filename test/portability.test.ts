/**
 * The repository runs from any checkout: no tracked source, test or config names a path of the
 * machine it was written on (a home folder, /work/...). Paths derive from the repository
 * or from FILTER_ATLAS_MIRROR / FILTER_ATLAS_CACHE / FILTER_ATLAS_OUTPUT.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const REPO = join(import.meta.dirname, '..');
/** Absolute folders that only exist on some machine; /usr/bin/chromium and /usr/share are Debian's and stay. */
const MACHINE_PATH = /(?<![\w.~-])\/(?:work|home|root|Users)\/[\w.-]+/g;

describe('portability', () => {
  it('no tracked file of the code, tests, configs or CI names an absolute machine path', () => {
    const files = execFileSync('git', ['ls-files', 'pipeline', 'test', 'bench', 'bin', 'config', 'site/src', 'site/astro.config.ts', '.ci', '.github', 'vitest.config.ts', 'package.json'], { cwd: REPO, encoding: 'utf8' })
      .split('\n')
      .filter((file) => /\.(ts|js|mjs|astro|ya?ml|json|sh)$|^\.ci\//.test(file) && file !== 'test/portability.test.ts');
    const found = files.flatMap((file) =>
      [...readFileSync(join(REPO, file), 'utf8').matchAll(MACHINE_PATH)].map((match) => `${file}: ${match[0]}`),
    );
    expect(found).toEqual([]);
  });
});
