/** Feature visualisation: the article's method as small parts (see each file). */
export { methodParamsSchema, defaultMethodParams, describeMethod, scaleSizes, finalSize } from './params.js';
export type { MethodParams, MethodParamsInput } from './params.js';
export { visualizeBatch } from './batch.js';
export type { FilterImage, FilterVisualization, VisualizeBatchOptions } from './batch.js';
export { sweepFilters, chooseBatchSize, bytesPerImage, MAX_BATCH_SIZE } from './sweep.js';
export type { SweepOptions } from './sweep.js';
