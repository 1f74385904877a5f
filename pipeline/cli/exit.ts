import { FilterAtlasError } from '../errors.js';

/** The one way fatal errors leave the program: a user error prints its message, a bug its stack. */
export function exitWithError(error: unknown): never {
  if (error instanceof FilterAtlasError) {
    process.stderr.write(`filter-atlas: ${error.message}\n`);
  } else if (error instanceof Error && error.name === 'AbortError') {
    process.stderr.write('filter-atlas: interrupted; finished work is kept, rerun the same command to resume.\n');
    process.exit(130);
  } else {
    process.stderr.write(`filter-atlas: unexpected error\n${error instanceof Error ? error.stack : String(error)}\n`);
  }
  process.exit(1);
}
