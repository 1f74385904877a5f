import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests reach the real assets through the product's own mirror code. CI sets FILTER_ATLAS_MIRROR;
// a developer checkout with ../shared/assets beside it gets the same default.
const sharedAssets = resolve(import.meta.dirname, '../shared/assets');
const env: Record<string, string> = {};
if (!process.env.FILTER_ATLAS_MIRROR && existsSync(sharedAssets)) env.FILTER_ATLAS_MIRROR = sharedAssets;

/**
 * The slow tier (`npm run test:full`, what CI runs): real builds by the dozen, every browser test,
 * the fault suite, and the PyTorch operator references. Everything else is
 * the quick tier (`npm test`): unit tests, one small end-to-end build with its resume
 * (test/atlas/resume.test.ts) and one site smoke test (test/site/site.test.ts).
 */
export const SLOW = [
  'test/faults/*.test.ts',
  'test/model/torchvision.test.ts',
  'test/model/torchvision-pipeline.test.ts',
  'test/bench/device-check-run.test.ts',
  // The device check's dry run on SwiftShader: 3-4 min here.
  'test/bench/device-check-software.test.ts',
  'test/atlas/sharded-build.test.ts',
  'test/atlas/assembly-inputs.test.ts',
  'test/atlas/lucid-build.test.ts',
  'test/atlas/dead-in-layer.test.ts',
  'test/atlas/records.test.ts',
  'test/atlas/memory.test.ts',
  'test/cli/build-flags.test.ts',
  'test/nightly/*.test.ts',
  'test/diff/variants.test.ts',
  'test/history/resnet-history.test.ts',
  'test/site/features.test.ts',
  'test/site/real.test.ts',
  'test/site/aliases.test.ts',
  'test/portability.test.ts',
  'test/engine/webgpu-software.test.ts',
  'test/engine/webgpu-gradients.test.ts',
  'test/engine/webgpu-ascent.test.ts',
];

export default defineConfig({
  test: {
    env,
    testTimeout: 300_000,
    hookTimeout: 600_000,
    // One file at a time: the slow tier's real builds each use both cores (onnxruntime's threads).
    // `npm test` runs the quick tier two files at a time (--fileParallelism --maxWorkers=2 in
    // package.json; vitest takes these for the whole run, not per project): its files are small and
    // mostly wait on I/O or one thread, and took 74 s that way against 112 s one at a time here.
    fileParallelism: false,
    projects: [
      { extends: true, test: { name: 'quick', include: ['test/**/*.test.ts'], exclude: SLOW } },
      { extends: true, test: { name: 'slow', include: SLOW } },
    ],
  },
});
