/**
 * Every command names its output folder `--output` (as `build` always did). `--out`, the old
 * spelling of some commands, still works but is hidden from --help and says it is deprecated.
 */
import { Option } from 'commander';
import { userError } from '../../errors.js';

export function deprecatedOut(): Option {
  return new Option('--out <dir>', 'deprecated: use --output').hideHelp();
}

/** --output, or the deprecated --out (with a note on stderr); both at once is an error. */
export function outputFlag(flags: { output?: string; out?: string }, defaultOutput?: string): string | undefined {
  if (flags.out === undefined) return flags.output;
  if (flags.output !== undefined && flags.output !== defaultOutput) {
    throw userError({ where: '--out and --output', expected: 'one of them', received: 'both', fix: 'Use --output only (--out is its deprecated spelling).' });
  }
  process.stderr.write('filter-atlas: --out is deprecated, use --output\n');
  return flags.out;
}
