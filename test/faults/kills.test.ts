/**
 * SIGKILL a real build (test/fixtures/tiny.yaml: 16 filters of 2 layers, a 40-photo scan, examples,
 * a probe) at 10 random points in sequence: each rerun resumes what the killed one left, and is
 * killed in turn, until the last one completes. After every kill the folder is consistent (valid
 * atlas.json, complete records, no record without its files); at the end the atlas is identical to
 * an uninterrupted build, byte for byte (files) and field for field (records and atlas.json, timing
 * fields aside), with no temporary file left.
 *
 * The kill points: a seeded (FAULT_SEED, default 13) sorted sample of the uninterrupted build's file
 * count (its last few files aside: the run would end before the kill), so kills spread over every
 * stage in proportion to the files it writes, each followed by a random delay of up to 0.5 s so that
 * kills land between and inside writes, in startup and in the scan. A run that still ends before its
 * kill point is not a kill: the folder is cleared and the remaining points are drawn again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRandom } from '../../pipeline/util/random.js';
import { cli, compareAtlases, consistencyProblems, filesUnder, recordFigures, TINY } from './harness.js';

const KILLS = 10;
const SEED = Number(process.env.FAULT_SEED ?? 13);
const TEMPORARY = /\.\d+\.[0-9a-f]{8}\.tmp$/;

let work: string;
let reference: string;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'filter-atlas-kills-'));
  const built = await cli(['build', TINY, '--output', join(work, 'reference')]);
  expect(built.code, built.stderr).toBe(0);
  reference = join(work, 'reference', 'tiny');
});

describe(`${KILLS} SIGKILLs at random points`, () => {
  it('each rerun resumes, and the last one ends with the atlas of an uninterrupted build', async () => {
    const total = (await filesUnder(reference)).length;
    const random = createRandom(SEED);
    const draw = (count: number) => Array.from({ length: count }, () => Math.floor(random.next() * (total - 8))).sort((a, b) => a - b);
    let targets = draw(KILLS);
    const delays = Array.from({ length: KILLS }, () => Math.round(random.next() * 500));
    const output = join(work, 'killed');
    const dir = join(output, 'tiny');
    const log: string[] = [];
    let kills = 0;
    let restarts = 0;

    for (let attempt = 0; kills < KILLS; attempt++) {
      expect(attempt, `kills so far: ${log.join('; ')}`).toBeLessThan(2 * KILLS);
      const target = targets[kills];
      const delay = delays[kills];
      let filesAtKill = -1;
      const result = await cli(['build', TINY, '--output', output], {
        started: (child) => {
          const poll = async (): Promise<void> => {
            while (child.exitCode === null && child.signalCode === null) {
              const files = (await filesUnder(dir)).filter((f) => !TEMPORARY.test(f)).length;
              if (files >= target) {
                await new Promise((done) => setTimeout(done, delay));
                filesAtKill = (await filesUnder(dir)).length;
                child.kill('SIGKILL');
                return;
              }
              await new Promise((done) => setTimeout(done, 20));
            }
          };
          void poll();
        },
      });
      if (result.signal === 'SIGKILL') {
        kills += 1;
        log.push(`kill ${kills}: ${target} files + ${delay} ms (${filesAtKill} files there)`);
        expect(await consistencyProblems(dir), `after kill ${kills}`).toEqual([]);
        continue;
      }
      // The run finished before its kill point: nothing left to kill, so start again from nothing.
      expect(result.code, result.stderr).toBe(0);
      restarts += 1;
      await rm(output, { recursive: true, force: true });
      targets = [...targets.slice(0, kills), ...draw(KILLS - kills)];
    }

    const last = await cli(['build', TINY, '--output', output, '--json']);
    expect(last.code, last.stderr).toBe(0);
    expect(await consistencyProblems(dir)).toEqual([]);
    expect((await filesUnder(dir)).filter((f) => TEMPORARY.test(f))).toEqual([]);
    const comparison = await compareAtlases(reference, dir);
    console.log(`seed ${SEED}: ${log.join('; ')}; ${restarts} restart(s); compared ${comparison.files} files, ${comparison.bytes} bytes, ${comparison.bytesLost} lost`);
    expect(comparison.differences).toEqual([]);
    await recordFigures('kills', { killsSurvived: kills, bytesCompared: comparison.bytes, bytesLost: comparison.bytesLost, notes: [`seed ${SEED}`, ...log] });
  });
});
