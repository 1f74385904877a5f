import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 600_000,
    // Two cores: files in parallel would fight over them and over onnxruntime's threads.
    fileParallelism: false,
  },
});
