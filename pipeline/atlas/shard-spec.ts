/**
 * Which shard of a build this process is: `--shard K/N` (K from 1 to N, the form CI matrices and
 * test runners use), else the `FILTER_ATLAS_SHARD` environment variable in the same form, else, for a
 * Kubernetes Indexed Job, `FILTER_ATLAS_SHARDS=N` beside the `JOB_COMPLETION_INDEX` (0 to N-1) that
 * Kubernetes sets in every pod: a pod template cannot do arithmetic, so the count alone is written
 * in the manifest and the index comes from the pod.
 */
import { describeValue, userError } from '../errors.js';

export interface ShardSpec {
  /** 1-based: shard 1 of N is the first. */
  index: number;
  count: number;
}

/** More shards than this would be thousands of processes each doing a handful of batches. */
export const MAX_SHARDS = 10_000;

export function formatShard(shard: ShardSpec): string {
  return `${shard.index}/${shard.count}`;
}

/** "K/N" -> a shard; `where` names the flag or variable in errors. */
export function parseShard(text: string, where: string): ShardSpec {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const [index, count] = match ? [Number(match[1]), Number(match[2])] : [Number.NaN, Number.NaN];
  if (!match || count < 1 || count > MAX_SHARDS || index < 1 || index > count) {
    throw userError({
      where,
      expected: `K/N with 1 <= K <= N <= ${MAX_SHARDS} (shard K of N, counted from 1, e.g. 2/4)`,
      received: describeValue(text),
      fix: match && index === 0 ? 'Shards count from 1; for a 0-based index (Kubernetes JOB_COMPLETION_INDEX), set FILTER_ATLAS_SHARDS=N instead.' : undefined,
    });
  }
  return { index, count };
}

/**
 * The shard from the flag or the environment (in that order of precedence); undefined for an
 * unsharded build. JOB_COMPLETION_INDEX alone does not shard: an Indexed Job may run plain builds.
 */
export function resolveShard(flag: string | undefined, env: NodeJS.ProcessEnv): ShardSpec | undefined {
  if (flag !== undefined) return parseShard(flag, '--shard');
  const variable = env.FILTER_ATLAS_SHARD;
  if (variable !== undefined && variable.trim() !== '') return parseShard(variable, 'FILTER_ATLAS_SHARD');
  const count = env.FILTER_ATLAS_SHARDS;
  if (count === undefined || count.trim() === '') return undefined;
  if (!/^\s*\d+\s*$/.test(count) || Number(count) < 1 || Number(count) > MAX_SHARDS) {
    throw userError({ where: 'FILTER_ATLAS_SHARDS', expected: `the number of shards, 1 to ${MAX_SHARDS}`, received: describeValue(count) });
  }
  const index = env.JOB_COMPLETION_INDEX;
  if (index === undefined || !/^\s*\d+\s*$/.test(index) || Number(index) >= Number(count)) {
    throw userError({
      where: 'JOB_COMPLETION_INDEX',
      expected: `the 0-based index of this pod, 0 to ${Number(count) - 1} (FILTER_ATLAS_SHARDS is ${Number(count)})`,
      received: index === undefined ? 'nothing (the variable is not set)' : describeValue(index),
      fix: 'FILTER_ATLAS_SHARDS is meant for a Kubernetes Indexed Job (completionMode: Indexed), which sets JOB_COMPLETION_INDEX; elsewhere use --shard K/N.',
    });
  }
  return { index: Number(index) + 1, count: Number(count) };
}
