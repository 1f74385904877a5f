/**
 * Upper bounds on config values that would otherwise eat the machine before any error: a schedule
 * whose final image is enormous (memory grows until the process is killed), thousands of engine
 * threads (each one costs memory), and a config file so large that parsing it exhausts the heap.
 */
import { stat } from 'node:fs/promises';
import { z } from 'zod';
import { userError } from '../errors.js';
import { finalSize, methodParamsSchema } from '../schema/article-params.js';

/** Side of the final visualisation, px: the article's is 408, darknet-tiny's default 227. */
export const MAX_FINAL_SIZE = 2048;

/** Engine threads: beyond the cores of any machine this runs on, more threads only cost memory. */
export const MAX_THREADS = 256;

/** A config lists layers and filter ranges, not data: 1 MiB is thousands of times a real one. */
export const MAX_CONFIG_BYTES = 1024 * 1024;

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

export const threadsSchema = z
  .number()
  .int()
  .positive()
  .max(MAX_THREADS, { error: `expected at most ${MAX_THREADS} threads (more threads than cores only cost memory)` });
