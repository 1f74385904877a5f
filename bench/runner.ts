/**
 * The bench's small API: a BenchCase names its row and measures itself; runBench runs cases in
 * order, skips what cannot run (with the reason), and adds each row's ratio to the PyTorch row
 * of the same configuration. Other stages add rows by supplying more cases.
 */

/** One result line; `--json` prints it as is. */
export interface BenchRow {
  engine: string;
  model: string;
  layer: string;
  size: number;
  batch: number;
  seconds_per_step: number;
  /** PyTorch seconds / these seconds (> 1: faster than PyTorch), when a PyTorch row of the same configuration ran. */
  ratio_vs_pytorch?: number;
  /** What ran the maths (EngineInfo.device, or the PyTorch version and threads). */
  device?: string;
  /** Timed steps behind the median. */
  steps?: number;
  /** Where the step's nodes ran (onnxruntime: from a profile of the warm-up step), e.g. "cpu 149/149 nodes". */
  placement?: string;
  /** Bytes one step copies host -> device and device -> host (Engine.bytesMoved); absent where nothing crosses (the CPU). */
  bytes_per_step?: { to_device: number; to_host: number };
}

export interface Measurement {
  secondsPerStep: number;
  steps: number;
  device?: string;
  placement?: string;
  bytesPerStep?: { toDevice: number; toHost: number };
}

export interface BenchCase {
  engine: string;
  model: string;
  layer: string;
  size: number;
  batch: number;
  /** Measures the case, or returns why it cannot run here. */
  measure(): Promise<Measurement | { skip: string }>;
}

export interface BenchEvents {
  onRow(row: BenchRow): void;
  onSkip(benchCase: BenchCase, reason: string): void;
}

export interface TimingOptions {
  /** Untimed steps first (allocations, session/graph creation, caches). @default 1 */
  warmup?: number;
  /** @default 3 */
  minSteps?: number;
  /** @default 5 */
  maxSteps?: number;
  /** Stop after minSteps once this much time went into timed steps. @default 10 */
  budgetSeconds?: number;
}

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

/** Median seconds of one call of `step`, after warm-up. */
export async function timeSteps(step: () => Promise<unknown>, options: TimingOptions = {}): Promise<{ secondsPerStep: number; steps: number }> {
  const { warmup = 1, minSteps = 3, maxSteps = 5, budgetSeconds = 10 } = options;
  for (let i = 0; i < warmup; i++) await step();
  const times: number[] = [];
  let spent = 0;
  while (times.length < maxSteps && (times.length < minSteps || spent < budgetSeconds)) {
    const start = process.hrtime.bigint();
    await step();
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    times.push(seconds);
    spent += seconds;
  }
  return { secondsPerStep: median(times), steps: times.length };
}

export const configurationKey = (c: { model: string; layer: string; size: number; batch: number }): string => `${c.model}|${c.layer}|${c.size}|${c.batch}`;

/** Runs cases in order; a PyTorch row must come before the rows it is the reference for. */
export async function runBench(cases: readonly BenchCase[], events: BenchEvents): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const pytorch = new Map<string, number>();
  for (const benchCase of cases) {
    const result = await benchCase.measure();
    if ('skip' in result) {
      events.onSkip(benchCase, result.skip);
      continue;
    }
    const { engine, model, layer, size, batch } = benchCase;
    const row: BenchRow = { engine, model, layer, size, batch, seconds_per_step: result.secondsPerStep };
    const key = configurationKey(row);
    if (engine === 'pytorch') pytorch.set(key, result.secondsPerStep);
    else if (pytorch.has(key)) row.ratio_vs_pytorch = pytorch.get(key)! / result.secondsPerStep;
    if (result.device) row.device = result.device;
    row.steps = result.steps;
    if (result.placement) row.placement = result.placement;
    if (result.bytesPerStep) row.bytes_per_step = { to_device: result.bytesPerStep.toDevice, to_host: result.bytesPerStep.toHost };
    rows.push(row);
    events.onRow(row);
  }
  return rows;
}
