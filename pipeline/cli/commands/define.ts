import type { Command } from 'commander';

/** Each command module exports one function that adds its command to the program (index.ts lists them). */
export type DefineCommand = (program: Command) => void;
