/**
 * `filter-atlas diff <atlasA> <atlasB> [--output DIR] [--json]`: what changed between two atlases of one
 * architecture (retrained, fine-tuned, quantised weights), unit by unit -> diff.json + a summary.
 */
import { deviceEngineOptions, deviceOption, verboseOption, type DeviceFlags } from './device-flags.js';
import type { DefineCommand } from './define.js';
import { deprecatedOut, outputFlag } from './output-flag.js';

interface DiffFlags extends DeviceFlags {
  output?: string;
  /** Deprecated spelling of --output. */
  out?: string;
  json?: boolean;
  engine: string;
  threads?: string;
  modelA?: string;
  modelB?: string;
  top: string;
}

export const defineDiffCommand: DefineCommand = (program) => {
  program
    .command('diff')
    .description(
      'Compare two atlases of the same architecture unit by unit (activation correlation over the shared dataset, top-k overlap, cross-activation on each other\'s visualisations, SSIM), match permuted units, rank and classify every filter; writes diff.json.',
    )
    .argument('<atlasA>', 'the earlier atlas: its folder (output/<atlas>) or an atlas .json file')
    .argument('<atlasB>', 'the later atlas: folder or .json file')
    .option('--output <dir>', 'folder for diff.json (default: diffs/<A>__<B> in the output folder that holds atlas B, e.g. output/diffs/<A>__<B>)')
    .addOption(deprecatedOut())
    .option('--json', 'print the diff as JSON (with a top-level summary) instead of the table')
    .option('--engine <engine>', 'engine that runs the cross-activations: ort or tfjs', 'ort')
    .option('--threads <n>', 'engine threads (default: every core)')
    .addOption(deviceOption())
    .addOption(verboseOption())
    .option('--model-a <spec>', "model of atlas A, when neither its recorded spec nor the output's model-store/ holds its weights (they must match); without any, the diff leaves out cross-activation and says why")
    .option('--model-b <spec>', 'model of atlas B, likewise')
    .option('--top <n>', 'changed units listed in the summary', '10')
    .action(async (pathA: string, pathB: string, flags: DiffFlags) => {
      const [{ dirname, join, resolve }, { runDiff, defaultDiffDir }, { readAtlasForDiff }, { formatDiffSummary }, { loadModel }, { createEngine }, { writeFileAtomic }, { userError }] = await Promise.all([
        import('node:path'),
        import('../../diff/run.js'),
        import('../../diff/read.js'),
        import('../../diff/report.js'),
        import('../../model/load.js'),
        import('../../engine/create.js'),
        import('../../util/fs.js'),
        import('../../errors.js'),
      ]);
      if (flags.engine !== 'ort' && flags.engine !== 'tfjs') throw userError({ where: '--engine', expected: '"ort" or "tfjs"', received: JSON.stringify(flags.engine) });
      const threads = flags.threads === undefined ? undefined : Number(flags.threads);
      if (threads !== undefined && !(Number.isInteger(threads) && threads > 0)) throw userError({ where: '--threads', expected: 'a positive integer', received: JSON.stringify(flags.threads) });
      const top = Number(flags.top);
      if (!(Number.isInteger(top) && top >= 0)) throw userError({ where: '--top', expected: 'a non-negative integer', received: JSON.stringify(flags.top) });
      const chosen = outputFlag(flags);
      let out = chosen ? resolve(chosen) : undefined;
      if (!out) {
        const [a, b] = [await readAtlasForDiff(pathA, 'A'), await readAtlasForDiff(pathB, 'B')];
        // Beside the atlases, so the site (which reads <output>/diffs/) finds it and relative paths hold.
        out = resolve(defaultDiffDir(dirname(b.dir), a.atlas.id, b.atlas.id));
      }
      const controller = new AbortController();
      const interrupt = () => controller.abort(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
      process.once('SIGINT', interrupt);
      try {
        const diff = await runDiff(
          { a: pathA, b: pathB, out, engine: flags.engine, threads, ...(flags.device ? { device: flags.device } : {}), modelA: flags.modelA, modelB: flags.modelB, signal: controller.signal },
          {
            loadModel,
            createEngine: (model, options) => createEngine(model, { ...options, ...deviceEngineOptions({ verbose: flags.verbose }) }),
            log: (message) => process.stderr.write(`${message}\n`),
            now: () => new Date(),
          },
        );
        const file = join(out, 'diff.json');
        await writeFileAtomic(file, JSON.stringify(diff, null, 1) + '\n');
        process.stdout.write(flags.json ? JSON.stringify(diff) + '\n' : formatDiffSummary(diff, { top, file }));
      } finally {
        process.off('SIGINT', interrupt);
      }
    });
};
