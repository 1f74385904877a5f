import { defineBuildCommand } from './build.js';
import { defineClassifyCommand } from './classify.js';
import type { DefineCommand } from './define.js';
import { defineDiffCommand } from './diff.js';
import { defineFetchCommand } from './fetch.js';
import { defineLayersCommand } from './layers.js';
import { defineMergeCommand } from './merge.js';
import { defineModelsCommand } from './models.js';
import { definePlanCommand } from './plan.js';
import { defineProbeCommand } from './probe.js';
import { defineVariantCommand } from './variant.js';
import { defineVisualizeCommand } from './visualize.js';

/** In the order `--help` lists them: the main job first, then the single-purpose tools. */
export const commands: DefineCommand[] = [
  defineBuildCommand,
  definePlanCommand,
  defineMergeCommand,
  defineDiffCommand,
  defineVisualizeCommand,
  defineProbeCommand,
  defineClassifyCommand,
  defineModelsCommand,
  defineLayersCommand,
  defineFetchCommand,
  defineVariantCommand,
];
