/**
 * `filter-atlas history <atlas>... [--name NAME] [--output DIR]`: two or more atlases of one
 * architecture in order -> <output>/histories/<name>/history.json: every filter followed across the
 * versions (diffs of consecutive pairs, chained unit matching), see pipeline/diff/history.ts.
 */
import { deviceEngineOptions, deviceOption, verboseOption, type DeviceFlags } from './device-flags.js';
import type { DefineCommand } from './define.js';

interface HistoryFlags extends DeviceFlags {
  name?: string;
  output?: string;
  json?: boolean;
  engine: string;
  threads?: string;
}

export const defineHistoryCommand: DefineCommand = (program) => {
  program
    .command('history')
    .description(
      'Follow every filter across two or more atlases of one architecture, oldest first (checkpoints, nightly fine-tunes, releases): diffs each consecutive pair as `diff` does, chains the unit matching, and writes <output>/histories/<name>/history.json with each filter\'s score and status at every step and the version where it first changed, died or revived.',
    )
    .argument('<atlases...>', 'atlas folders (output/<atlas>) or atlas .json files, oldest first')
    .option('--name <name>', 'the history\'s name, its folder under histories/ (default: the last atlas\'s id)')
    .option('--output <dir>', 'output folder; the history goes to <dir>/histories/<name> (default: the output folder that holds the last atlas)')
    .option('--json', 'print history.json instead of the table')
    .option('--engine <engine>', 'engine that runs the cross-activations: ort or tfjs', 'ort')
    .option('--threads <n>', 'engine threads (default: every core)')
    .addOption(deviceOption())
    .addOption(verboseOption())
    .action(async (paths: string[], flags: HistoryFlags) => {
      const [{ dirname, join, resolve }, { runHistory, defaultHistoryDir }, { readAtlasForDiff }, { formatHistorySummary }, { loadModel }, { createEngine }, { writeFileAtomic }, { userError }, { atlasIdSchema }] = await Promise.all([
        import('node:path'),
        import('../../diff/history.js'),
        import('../../diff/read.js'),
        import('../../diff/history-report.js'),
        import('../../model/load.js'),
        import('../../engine/create.js'),
        import('../../util/fs.js'),
        import('../../errors.js'),
        import('../../config/schema.js'),
      ]);
      if (paths.length < 2) throw userError({ where: 'filter-atlas history', expected: 'two or more atlases, oldest first', received: `${paths.length}`, fix: 'Pass every version: filter-atlas history output/v1 output/v2 output/v3.' });
      if (flags.engine !== 'ort' && flags.engine !== 'tfjs') throw userError({ where: '--engine', expected: '"ort" or "tfjs"', received: JSON.stringify(flags.engine) });
      const threads = flags.threads === undefined ? undefined : Number(flags.threads);
      if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw userError({ where: '--threads', expected: 'a positive integer', received: JSON.stringify(flags.threads) });
      const last = await readAtlasForDiff(paths[paths.length - 1], 'B');
      const name = flags.name ?? last.atlas.id;
      // The name becomes a folder and a URL segment: the atlas id rule.
      if (!atlasIdSchema.safeParse(name).success) throw userError({ where: '--name', expected: 'letters, digits, ".", "_" or "-", starting with a letter or digit', received: JSON.stringify(name) });
      // Beside the atlases by default, so the site (which reads <output>/histories/) finds it and relative paths hold.
      const out = resolve(defaultHistoryDir(flags.output ? resolve(flags.output) : dirname(last.dir), name));
      const controller = new AbortController();
      const interrupt = () => controller.abort(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
      process.once('SIGINT', interrupt);
      try {
        const history = await runHistory(
          { atlases: paths, name, out, engine: flags.engine, threads, ...(flags.device ? { device: flags.device } : {}), signal: controller.signal },
          {
            loadModel,
            createEngine: (model, options) => createEngine(model, { ...options, ...deviceEngineOptions({ verbose: flags.verbose }) }),
            log: (message) => process.stderr.write(`${message}\n`),
            now: () => new Date(),
          },
        );
        const file = join(out, 'history.json');
        await writeFileAtomic(file, JSON.stringify(history, null, 1) + '\n');
        process.stdout.write(flags.json ? JSON.stringify(history) + '\n' : formatHistorySummary(history, { file }));
      } finally {
        process.off('SIGINT', interrupt);
      }
    });
};
