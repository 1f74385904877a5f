/**
 * `--strict` (build, merge): an atlas that is incomplete or holds failed pictures ends the command
 * with exit status 1 instead of 0, for schedulers that must notice. What was written stays written;
 * the error says what is missing or failed, and that --strict made it an error.
 */
import { Option } from 'commander';
import { describeFailed, type AtlasCounts } from '../../atlas/counts.js';
import { userError, type FilterAtlasError } from '../../errors.js';

export function strictOption(what: string): Option {
  return new Option('--strict', `exit with status 1 (not 0) when ${what}; the summary and the error say what`);
}

/** "atlas tiny: 2 failed pictures: 2 of leaky_re_lu_2 by article (3, 5)", or undefined when none failed. */
export function failedProblem(counts: Pick<AtlasCounts, 'failed'>, whose: string): string | undefined {
  const n = counts.failed.reduce((sum, f) => sum + f.filters.length, 0);
  return n === 0 ? undefined : `${whose}: ${n} failed picture${n === 1 ? '' : 's'}: ${describeFailed(counts.failed)}`;
}

/**
 * The error --strict turns `problems` into (none: undefined). `written` says what is on disk despite
 * them, `otherwise` what the command does without --strict, `fix` how to finish the atlas.
 */
export function strictError(problems: readonly string[], parts: { expected: string; written: string; fix: string }): FilterAtlasError | undefined {
  if (problems.length === 0) return undefined;
  return userError({
    where: '--strict',
    expected: parts.expected,
    received: problems.join('; '),
    fix: `--strict made this an error (without it the command exits 0); ${parts.written}. ${parts.fix}`,
  });
}
