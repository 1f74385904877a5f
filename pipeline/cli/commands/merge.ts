/**
 * `filter-atlas merge <shard folders...> --output DIR`: the atlas of a build run as shards
 * (`build --shard K/N`), assembled from what the shards wrote; see pipeline/atlas/merge.ts.
 */
import { describeCounts } from '../../atlas/counts.js';
import type { DefineCommand } from './define.js';
import { failedProblem, strictError, strictOption } from './strict-flag.js';

interface MergeFlags {
  output: string;
  json?: boolean;
  strict?: boolean;
}

export const defineMergeCommand: DefineCommand = (program) => {
  program
    .command('merge')
    .description(
      'Assemble the atlas of a sharded build (`build --shard K/N`) from the shards\' folders: checks that they are one build (code, weights, engine device, config), verifies and gathers every record\'s files, writes <output>/<atlas>/atlas.json, marked incomplete with what is missing and the shards to rerun.',
    )
    .argument('<shards...>', 'folders the shards wrote: their --output folders, or the <atlas> folders inside them')
    .option('--output <dir>', 'output folder; each atlas goes to <dir>/<atlas>', 'output')
    .option('--json', 'print one JSON summary per atlas: filters by status (ok, flagged, dead, failed), pictures by method, what is missing')
    .addOption(strictOption('an atlas is incomplete (shards or records missing) or a filter\'s picture failed'))
    .action(async (dirs: string[], flags: MergeFlags) => {
      const [{ resolve }, { runMerge }, { describeMissing }] = await Promise.all([import('node:path'), import('../../atlas/merge.js'), import('../../atlas/missing.js')]);
      const controller = new AbortController();
      const interrupt = () => controller.abort(Object.assign(new Error('interrupted'), { name: 'AbortError' }));
      process.once('SIGINT', interrupt);
      process.once('SIGTERM', interrupt);
      try {
        const summaries = await runMerge(
          { dirs, output: resolve(flags.output), signal: controller.signal },
          { log: (message) => process.stderr.write(`${message}\n`), now: () => new Date() },
        );
        const rerun = 'Rerun the shards named (`filter-atlas build <config> --shard K/N` with the same config and --threads), then merge again.';
        for (const summary of summaries) {
          if (flags.json) {
            process.stdout.write(JSON.stringify(summary) + '\n');
            continue;
          }
          process.stdout.write(
            `atlas ${summary.atlas} written to ${summary.atlasDir}/atlas.json in ${summary.seconds.toFixed(1)} s from shard${summary.shards.length === 1 ? '' : 's'} ` +
              `${summary.shards.join(', ')}: ${describeCounts(summary.counts)}, ${summary.placed} files gathered, ${summary.verified} verified\n`,
          );
          if (summary.missing) {
            process.stdout.write(
              `atlas ${summary.atlas} is incomplete: missing ${describeMissing(summary.missing)}. ` +
                `Rerun shard ${summary.missing.shards.join(', ')} (\`filter-atlas build <config> --shard K/N\` with the same config and --threads), then merge again.\n`,
            );
          }
        }
        if (flags.strict) {
          const problems = summaries.flatMap((summary) => {
            const failed = failedProblem(summary.counts, `atlas ${summary.atlas}`);
            return [
              ...(summary.missing ? [`atlas ${summary.atlas} is incomplete: missing ${describeMissing(summary.missing)} (rerun shard ${summary.missing.shards.join(', ')})`] : []),
              ...(failed ? [failed] : []),
            ];
          });
          const error = strictError(problems, {
            expected: 'complete atlases with every filter\'s pictures drawn (none failed)',
            written: 'atlas.json is written, marked incomplete with what is missing, failed pictures marked failed',
            fix: summaries.some((s) => s.missing) ? rerun : 'A failed picture diverged (NaN or infinity) twice: check the model\'s weights, or lower the method\'s learningRate.',
          });
          if (error) throw error;
        }
      } finally {
        process.off('SIGINT', interrupt);
        process.off('SIGTERM', interrupt);
      }
    });
};
