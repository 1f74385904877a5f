/**
 * The per-stage figures of a build (build --json's `stages`, the end-of-build summary, the timings
 * `plan` reads): wall seconds, engine seconds and GFLOP of each stage, from the metered engine's
 * usage (engine.ts meterEngine) before and after it.
 */
import type { EngineUsage } from '../engine/engine.js';
import { formatDuration } from '../util/progress.js';
import type { StageFigures, StageName } from './timings.js';

export interface StageClock {
  /** Starts timing a stage; `stop` records it with the units of work it did (computed, not reused). */
  start(name: StageName): { stop(items: number): StageFigures };
  /** The stages stopped so far, in order. */
  readonly stages: StageFigures[];
}

export function stageClock(usage: () => EngineUsage, now: () => number = () => performance.now()): StageClock {
  const stages: StageFigures[] = [];
  return {
    stages,
    start(name) {
      const started = now();
      const before = usage();
      let stopped: StageFigures | undefined;
      return {
        stop(items) {
          if (stopped) return stopped;
          const after = usage();
          const seconds = (now() - started) / 1000;
          stopped = {
            name,
            seconds,
            // Both clocks read the same moments, but round apart: the engine's share never exceeds the wall time.
            engineSeconds: Math.min(seconds, after.seconds - before.seconds),
            ...(after.flops !== undefined && before.flops !== undefined ? { gflop: (after.flops - before.flops) / 1e9 } : {}),
            items,
          };
          stages.push(stopped);
          return stopped;
        },
      };
    },
  };
}

/** Achieved GFLOP/s of a stage over its wall time; undefined without FLOPs or time. */
export function achievedGflops(stage: StageFigures): number | undefined {
  return stage.gflop !== undefined && stage.gflop > 0 && stage.seconds > 0 ? stage.gflop / stage.seconds : undefined;
}

/** The end-of-build summary: one line per stage, e.g. "filters: 412 s (engine 380 s), 12.3 TFLOP, 30 GFLOP/s, 16 % of the 190 GFLOP/s peak". */
export function formatStages(stages: readonly StageFigures[], peakGflops?: number): string[] {
  return stages.map((stage) => {
    const rate = achievedGflops(stage);
    const flops = stage.gflop === undefined ? 'GFLOP not counted by this engine' : `${stage.gflop.toFixed(1)} GFLOP`;
    const achieved = rate === undefined ? '' : `, ${rate.toFixed(1)} GFLOP/s${peakGflops ? ` (${((100 * rate) / peakGflops).toFixed(0)} % of the ${peakGflops.toFixed(0)} GFLOP/s peak)` : ''}`;
    return `  ${stage.name}: ${formatDuration(stage.seconds)} (engine ${formatDuration(stage.engineSeconds)}), ${stage.items} computed, ${flops}${achieved}`;
  });
}
