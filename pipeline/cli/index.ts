/**
 * Composition root: defines the commands; each command module imports its heavy
 * dependencies (onnxruntime, sharp, tfjs) lazily inside its action.
 */
import { Command } from 'commander';
import { exitWithError } from './exit.js';
import { commands } from './commands/index.js';

const program = new Command('filter-atlas')
  .description('See what every filter of a convolutional network has learned, and publish it as a static atlas.')
  .showHelpAfterError('(add --help for usage)')
  .configureHelp({ sortSubcommands: false });

for (const define of commands) define(program);

try {
  await program.parseAsync(process.argv);
} catch (error) {
  exitWithError(error);
}
