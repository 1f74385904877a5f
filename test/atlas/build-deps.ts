/**
 * The real dependencies of an in-process build, as the CLI wires them, silent and with a fixed clock:
 * what the tests that call runBuild directly share. `overrides` replaces any of them (an engine
 * wrapper, a gather recorder, another clock).
 */
import { dirname } from 'node:path';
import type { BuildDeps } from '../../pipeline/atlas/build.js';
import { resolveSource } from '../../pipeline/atlas/sources.js';
import type { Config } from '../../pipeline/config/load.js';
import { listDataset } from '../../pipeline/dataset/list.js';
import { createEngine } from '../../pipeline/engine/create.js';
import { loadModel } from '../../pipeline/model/load.js';

/** A progress bar that shows nothing. */
export const quiet = { tick() {}, skip() {}, log() {}, stop() {} };

export function testBuildDeps(config: Config, overrides: Partial<BuildDeps> = {}): BuildDeps {
  return {
    loadModel,
    createEngine,
    resolveSource: (source, signal) => resolveSource(source, dirname(config.file), signal),
    listDataset,
    progress: () => quiet,
    log: () => {},
    now: () => new Date('2026-12-01T00:00:00Z'),
    ...overrides,
  };
}
