/**
 * `filter-atlas build [config.yaml]`: the whole atlas, incremental and resumable.
 * Ctrl-C stops between steps; finished filters are kept and the next run resumes.
 */
import { dirname } from 'node:path';
import { deviceEngineOptions, deviceOption, verboseOption, type DeviceFlags } from './device-flags.js';
import type { BuildDeps } from '../../atlas/build.js';
import type { Config } from '../../config/load.js';
import type { EngineOptions } from '../../engine/engine.js';
import { describeCounts } from '../../atlas/counts.js';
import type { DefineCommand } from './define.js';
import { failedProblem, strictError, strictOption } from './strict-flag.js';

interface BuildFlags extends DeviceFlags {
  output?: string;
  json?: boolean;
  shard?: string;
  threads?: string;
  model?: string;
  atlas?: string;
  title?: string;
  strict?: boolean;
}

export const DEFAULT_CONFIG = 'config/default.yaml';

/** The real dependencies of a build (model loader, engine, assets, dataset listing, terminal progress). */
export async function buildDeps(config: Config, onPlacement?: EngineOptions['onPlacement']): Promise<BuildDeps> {
  const [{ loadModel }, { createEngine }, { listDataset }, { createProgress }, { resolveSource }, { cacheTimings }] = await Promise.all([
    import('../../model/load.js'),
    import('../../engine/create.js'),
    import('../../dataset/list.js'),
    import('../../util/progress.js'),
    import('../../atlas/sources.js'),
    import('../../atlas/timings.js'),
  ]);
  return {
    loadModel,
    createEngine: (model, options) => createEngine(model, { ...options, ...(onPlacement ? { onPlacement } : {}) }),
    resolveSource: (source, signal) => resolveSource(source, dirname(config.file), signal),
    listDataset,
    progress: (label, total, options) => createProgress(label, total, options),
    log: (message) => process.stderr.write(`${message}\n`),
    now: () => new Date(),
    timings: cacheTimings(),
  };
}

export const defineBuildCommand: DefineCommand = (program) => {
  program
    .command('build')
    .description('Build an atlas from a YAML config: visualise every selected filter, scan the dataset, run the probes, write output/<atlas>/atlas.json.')
    .argument('[config]', 'YAML config file', DEFAULT_CONFIG)
    .option('--output <dir>', 'output folder (overrides the config\'s "output")')
    .option('--model <model>', 'a built-in model or a model path relative to the current folder (overrides the config\'s "model"; other weights give other records)')
    .option('--atlas <id>', 'atlas id, the folder <output>/<id> (overrides the config\'s "atlas")')
    .option('--title <text>', 'atlas title (overrides the config\'s "title", whose default is "<model> atlas")')
    .option('--json', 'print a JSON summary when done: filters by status (ok, flagged, dead, failed), pictures by method')
    .addOption(strictOption('a filter\'s picture failed (diverged, no image; a build that ends has written a complete atlas)'))
    .addOption(deviceOption())
    .addOption(verboseOption())
    .option('--shard <K/N>', 'build only shard K of N (from 1) of the work, for `filter-atlas merge`; also FILTER_ATLAS_SHARD=K/N, or FILTER_ATLAS_SHARDS=N in a Kubernetes Indexed Job')
    .option('--threads <n>', 'engine threads (overrides the config\'s "threads"; a sharded build needs one count for every shard)')
    .action(async (configFile: string, flags: BuildFlags) => {
      const [{ loadConfig }, { runBuild }, { resolveShard, formatShard }, { parseThreads }] = await Promise.all([
        import('../../config/load.js'),
        import('../../atlas/build.js'),
        import('../../atlas/shard-spec.js'),
        import('./threads-flag.js'),
      ]);
      // Flags first: a wrong flag is reported before the config is read.
      const shard = resolveShard(flags.shard, process.env);
      const threads = flags.threads === undefined ? undefined : parseThreads(flags.threads);
      const config = await loadConfig(configFile, {
        ...(flags.model !== undefined ? { model: { value: flags.model, where: '--model' } } : {}),
        ...(flags.atlas !== undefined ? { atlas: { value: flags.atlas, where: '--atlas' } } : {}),
        ...(flags.title !== undefined ? { title: { value: flags.title, where: '--title' } } : {}),
      });
      if (flags.output) config.output = (await import('node:path')).resolve(flags.output);
      if (flags.device) config.device = flags.device;
      const { onPlacement } = deviceEngineOptions(flags);
      if (threads !== undefined) config.threads = threads;
      if (shard && config.threads === undefined) {
        const { userError } = await import('../../errors.js');
        throw userError({
          where: `${flags.shard !== undefined ? '--shard' : process.env.FILTER_ATLAS_SHARD?.trim() ? 'FILTER_ATLAS_SHARD' : 'FILTER_ATLAS_SHARDS'} ${formatShard(shard)}`,
          expected: 'a fixed engine thread count for a sharded build (--threads N, or threads: in the config)',
          received: 'none, so each machine would use all its cores',
          fix: 'Every shard must run with the same count: it changes float rounding, so it is part of every record key and merge refuses shards that differ. E.g. --threads 2.',
        });
      }

      const controller = new AbortController();
      const interrupt = () => {
        if (controller.signal.aborted) process.exit(130);
        process.stderr.write('\nstopping after the current step (Ctrl-C again to quit at once)...\n');
        controller.abort(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
      };
      process.on('SIGINT', interrupt);
      process.on('SIGTERM', interrupt);
      try {
        const summary = await runBuild(config, await buildDeps(config, onPlacement), controller.signal, { shard });
        const counts = `${describeCounts(summary.counts)}: ${summary.filtersComputed} computed, ${summary.filtersReused} reused`;
        const { formatStages } = await import('../../atlas/stage-figures.js');
        process.stderr.write(`stages${summary.peakGflops ? '' : ' (no measured peak: npm run bench -- --peak)'}:\n${formatStages(summary.stages, summary.peakGflops).join('\n')}\n`);
        if (flags.json) {
          process.stdout.write(JSON.stringify(summary) + '\n');
        } else if (summary.shard) {
          process.stdout.write(
            `shard ${summary.shard} written to ${summary.atlasDir} in ${summary.seconds.toFixed(1)} s: ${counts}` +
              `${summary.datasetScanned ? ', dataset scanned' : ''}, ${summary.probesComputed} probes computed; ` +
              'assemble the atlas with `filter-atlas merge <shard folders...> --output DIR`\n',
          );
        } else {
          process.stdout.write(
            `atlas written to ${summary.atlasDir}/atlas.json in ${summary.seconds.toFixed(1)} s: ${counts}, ` +
              `dataset ${summary.datasetScanned ? 'scanned' : 'reused'}, ${summary.probesComputed} probes computed\n`,
          );
        }
        if (flags.strict) {
          // A build's atlas is complete when it returns (a stopped build throws): only failures are left to check.
          const failed = failedProblem(summary.counts, summary.shard ? `shard ${summary.shard} of atlas ${config.atlas}` : `atlas ${config.atlas}`);
          const error = strictError(failed ? [failed] : [], {
            expected: 'every filter\'s pictures drawn (none failed)',
            written: summary.shard ? 'the shard\'s records are written, the failed pictures among them' : 'atlas.json is written, with those pictures marked failed',
            fix: 'A failed picture diverged (NaN or infinity) twice, the second time at half the learning rate: check the model\'s weights, or lower the method\'s learningRate.',
          });
          if (error) throw error;
        }
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
};
