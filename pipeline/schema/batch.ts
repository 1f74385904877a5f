/** Memory budget of an automatic batch size (`batch.memoryMiB`), MiB; `visualize` uses it too. */
export const DEFAULT_BATCH_MEMORY_MIB = 1024;
