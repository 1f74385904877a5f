import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

// Tests reach the real assets through the product's own mirror code. CI sets FILTER_ATLAS_MIRROR;
// a developer checkout with ../shared/assets beside it gets the same default.
const sharedAssets = resolve(import.meta.dirname, '../shared/assets');
const env: Record<string, string> = {};
if (!process.env.FILTER_ATLAS_MIRROR && existsSync(sharedAssets)) env.FILTER_ATLAS_MIRROR = sharedAssets;

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    env,
    testTimeout: 300_000,
    hookTimeout: 600_000,
    // Two cores: files in parallel would fight over them and over onnxruntime's threads.
    fileParallelism: false,
  },
});
