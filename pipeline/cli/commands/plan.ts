/**
 * `filter-atlas plan [config.yaml]`: what `build` will do and what it will cost on this machine,
 * before it starts (atlas/plan.ts). It loads the model and lists the dataset; it runs no engine.
 */
import { deviceOption, type DeviceFlags } from './device-flags.js';
import type { DefineCommand } from './define.js';
import { DEFAULT_CONFIG } from './build.js';

interface PlanFlags extends Pick<DeviceFlags, 'device'> {
  json?: boolean;
  threads?: string;
  shards?: string;
  model?: string;
}

export const definePlanCommand: DefineCommand = (program) => {
  program
    .command('plan')
    .description("What `build` will do and cost before it starts: filters per layer and method, GFLOP per stage, time on this machine (from the last build's figures or the measured peak), with N shards or a GPU.")
    .argument('[config]', 'YAML config file', DEFAULT_CONFIG)
    .option('--model <model>', 'a built-in model or a model path (overrides the config\'s "model", as for build)')
    .addOption(deviceOption())
    .option('--threads <n>', 'engine threads (overrides the config\'s "threads"; figures are kept per thread count)')
    .option('--shards <n>', 'show the time with this many shards on machines like this one', '4')
    .option('--json', 'print the plan as JSON')
    .action(async (configFile: string, flags: PlanFlags) => {
      const [{ loadConfig }, { planLayers }, { planBuild, datasetSize, formatPlan }, { readTimings, thisMachine }, { parseThreads }, { loadModel }, { resolveSource }, { listDataset }, { userError }, { dirname }] =
        await Promise.all([
          import('../../config/load.js'),
          import('../../atlas/build.js'),
          import('../../atlas/plan.js'),
          import('../../atlas/timings.js'),
          import('./threads-flag.js'),
          import('../../model/load.js'),
          import('../../atlas/sources.js'),
          import('../../dataset/list.js'),
          import('../../errors.js'),
          import('node:path'),
        ]);
      const threads = flags.threads === undefined ? undefined : parseThreads(flags.threads);
      const shards = Number(flags.shards ?? '4');
      if (!Number.isInteger(shards) || shards < 1) throw userError({ where: '--shards', expected: 'a positive integer', received: JSON.stringify(flags.shards) });
      const config = await loadConfig(configFile, flags.model !== undefined ? { model: { value: flags.model, where: '--model' } } : {});
      if (flags.device) config.device = flags.device;
      if (threads !== undefined) config.threads = threads;
      const model = await loadModel(config.model, { arch: config.arch });
      const layers = planLayers(config, model);
      const machine = thisMachine(config.threads);
      const plan = planBuild({
        config,
        model,
        layers,
        datasetImages: await datasetSize(config, { resolveSource: (source, signal) => resolveSource(source, dirname(config.file), signal), listDataset }),
        machine,
        timings: await readTimings(machine),
        shards,
      });
      process.stdout.write(flags.json ? JSON.stringify(plan, null, 2) + '\n' : formatPlan(plan) + '\n');
    });
};
