/**
 * `filter-atlas build [config.yaml]`: the whole atlas, incremental and resumable.
 * Ctrl-C stops between steps; finished filters are kept and the next run resumes.
 */
import { dirname } from 'node:path';
import { deviceEngineOptions, deviceOption, verboseOption, type DeviceFlags } from './device-flags.js';
import type { BuildDeps } from '../../atlas/build.js';
import type { Config } from '../../config/load.js';
import type { EngineOptions } from '../../engine/engine.js';
import type { DefineCommand } from './index.js';

interface BuildFlags extends DeviceFlags {
  output?: string;
  json?: boolean;
}

export const DEFAULT_CONFIG = 'config/default.yaml';

/** The real dependencies of a build (model loader, engine, assets, dataset listing, terminal progress). */
export async function buildDeps(config: Config, onPlacement?: EngineOptions['onPlacement']): Promise<BuildDeps> {
  const [{ loadModel }, { createEngine }, { listDataset }, { createProgress }, { resolveSource }] = await Promise.all([
    import('../../model/load.js'),
    import('../../engine/create.js'),
    import('../../dataset/list.js'),
    import('../../util/progress.js'),
    import('../../atlas/sources.js'),
  ]);
  return {
    loadModel,
    createEngine: (model, options) => createEngine(model, { ...options, ...(onPlacement ? { onPlacement } : {}) }),
    resolveSource: (source, signal) => resolveSource(source, dirname(config.file), signal),
    listDataset,
    progress: (label, total, options) => createProgress(label, total, options),
    log: (message) => process.stderr.write(`${message}\n`),
    now: () => new Date(),
  };
}

export const defineBuildCommand: DefineCommand = (program) => {
  program
    .command('build')
    .description('Build an atlas from a YAML config: visualise every selected filter, scan the dataset, run the probes, write output/<atlas>/atlas.json.')
    .argument('[config]', 'YAML config file', DEFAULT_CONFIG)
    .option('--output <dir>', 'output folder (overrides the config\'s "output")')
    .option('--json', 'print a JSON summary when done')
    .addOption(deviceOption())
    .addOption(verboseOption())
    .action(async (configFile: string, flags: BuildFlags) => {
      const [{ loadConfig }, { runBuild }] = await Promise.all([import('../../config/load.js'), import('../../atlas/build.js')]);
      const config = await loadConfig(configFile);
      if (flags.output) config.output = (await import('node:path')).resolve(flags.output);
      if (flags.device) config.device = flags.device;
      const { onPlacement } = deviceEngineOptions(flags);

      const controller = new AbortController();
      const interrupt = () => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('\nstopping after the current step (Ctrl-C again to quit at once)...\n');
        controller.abort(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
      };
      process.on('SIGINT', interrupt);
      process.on('SIGTERM', interrupt);
      try {
        const summary = await runBuild(config, await buildDeps(config, onPlacement), controller.signal);
        if (flags.json) {
          process.stdout.write(JSON.stringify(summary) + '\n');
        } else {
          process.stdout.write(
            `atlas written to ${summary.atlasDir}/atlas.json in ${summary.seconds.toFixed(1)} s: ` +
              `${summary.filtersComputed} filters computed, ${summary.filtersReused} reused, ` +
              `dataset ${summary.datasetScanned ? 'scanned' : 'reused'}, ${summary.probesComputed} probes computed\n`,
          );
        }
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
};
