/**
 * Upper bounds on config values that would otherwise eat the machine before any error: a schedule
 * whose final image is enormous (memory grows until the process is killed), thousands of engine
 * threads (each one costs memory), a config file so large that parsing it exhausts the heap, and
 * YAML aliases that expand a small file into a huge (or endless) structure ("billion laughs").
 */
import { stat } from 'node:fs/promises';
import { isAlias, isCollection, isPair, type Document, type LineCounter } from 'yaml';
import { z } from 'zod';
import { userError } from '../errors.js';
import { finalSize, methodParamsSchema } from '../schema/article-params.js';

/** Side of the final visualisation, px: the article's is 408, darknet-tiny's default 227. */
export const MAX_FINAL_SIZE = 2048;

/** Engine threads: beyond the cores of any machine this runs on, more threads only cost memory. */
export const MAX_THREADS = 256;

/**
 * Photos per forward call of the dataset scan: the engine uses every core from one image on, so larger
 * batches are not faster on a CPU, only heavier (each image holds its activations up to the layers).
 */
export const MAX_SCAN_BATCH = 64;

/** A config lists layers and filter ranges, not data: 256 KiB is a hundred times a real one (config/default.yaml: 1.7 KiB), and the yaml parser takes about a second of CPU for it. */
export const MAX_CONFIG_BYTES = 256 * 1024;

/** The method schema plus the final-size bound (the schedule's last image: startSize grown by upscale, scales - 1 times). */
export const boundedMethodSchema = methodParamsSchema.superRefine((params, context) => {
  const size = finalSize(params);
  if (size > MAX_FINAL_SIZE) {
    context.addIssue({
      code: 'custom',
      path: ['scales'],
      // "expected ..." first: config errors read "field: expected ..., received <value>".
      message: `expected a schedule that ends at ${MAX_FINAL_SIZE} px or less (this one ends at ${size}x${size} px: startSize ${params.startSize}, upscale ${params.upscale}, ${params.scales} scales; lower one of them)`,
    });
  }
});

/** Refuses a config file above MAX_CONFIG_BYTES before reading it; a missing file is left to the reader's error. */
export async function checkConfigSize(file: string): Promise<void> {
  const info = await stat(file).catch(() => undefined);
  if (info && info.size > MAX_CONFIG_BYTES) {
    throw userError({
      where: file,
      expected: `a config file of at most ${MAX_CONFIG_BYTES / 1024} KiB`,
      received: `${info.size} bytes`,
      fix: 'Write long filter lists as ranges ("0-999,1500") or "all".',
    });
  }
}

/**
 * YAML aliases (`*name`) in one config. A config may share a method block between layers with an anchor
 * and a few aliases; the yaml package resolves each alias by scanning every anchor and alias before it
 * (quadratic: 60,000 aliases took 41 s of CPU before any error), so the count is checked first.
 */
export const MAX_CONFIG_ALIASES = 100;

/**
 * Nodes of the config once its aliases are expanded. Aliases may at most double what MAX_CONFIG_BYTES of
 * plain YAML holds (about 2 bytes a node); nested aliases that multiply (billion laughs) go far past it.
 */
export const MAX_EXPANDED_NODES = 1_000_000;

/**
 * Refuses, before the document is turned into data, a YAML config whose aliases are too many, recursive
 * (an alias inside its own anchor: a cycle no check could walk) or expand it past MAX_EXPANDED_NODES.
 * One walk over the document, each anchor's expanded size counted once. The error names the alias's line.
 */
export function checkConfigAliases(file: string, doc: Document, lines: LineCounter): void {
  const sizes = new Map<string, number>();
  const open = new Set<string>();
  let aliases = 0;
  const offsetOf = (node: unknown): number => (isPair(node) ? offsetOf(node.key) : ((node as { range?: [number, number, number] | null } | null)?.range?.[0] ?? 0));
  const refuse = (node: unknown, expected: string, received: string, fix: string): never => {
    throw userError({ where: `${file}:${lines.linePos(offsetOf(node)).line}`, expected, received, fix });
  };
  const sizeOf = (node: unknown): number => {
    if (isAlias(node)) {
      aliases++;
      if (aliases > MAX_CONFIG_ALIASES) {
        refuse(node, `at most ${MAX_CONFIG_ALIASES} YAML aliases (*name) in a config`, `more (the ${aliases}th is *${node.source})`, 'Write the values out, or share fewer blocks by anchor.');
      }
      if (open.has(node.source)) refuse(node, 'an alias outside the block its anchor names', `*${node.source} inside &${node.source} (a recursive structure)`, 'Remove the alias.');
      return sizes.get(node.source) ?? 1;
    }
    const anchor = (node as { anchor?: string } | null)?.anchor;
    if (anchor) open.add(anchor);
    let size = 1;
    if (isPair(node)) size += sizeOf(node.key) + sizeOf(node.value);
    else if (isCollection(node)) for (const item of node.items) size += sizeOf(item);
    if (size > MAX_EXPANDED_NODES) {
      refuse(node, `a config of at most ${MAX_EXPANDED_NODES} values once its YAML aliases are expanded`, 'more: aliases of blocks that hold aliases multiply (a "billion laughs" file)', 'Write the values out instead of nesting aliases.');
    }
    if (anchor) {
      open.delete(anchor);
      sizes.set(anchor, size);
    }
    return size;
  };
  sizeOf(doc.contents);
}

export const scanBatchSchema = z
  .number()
  .int()
  .positive()
  .max(MAX_SCAN_BATCH, { error: `expected at most ${MAX_SCAN_BATCH} photos per scan batch (larger batches are not faster, only heavier)` });

export const threadsSchema = z
  .number()
  .int()
  .positive()
  .max(MAX_THREADS, { error: `expected at most ${MAX_THREADS} threads (more threads than cores only cost memory)` });
