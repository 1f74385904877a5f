/**
 * Progress of a long stage on stderr: a cli-progress bar (done/total, rate, ETA) on a terminal,
 * plain lines every few seconds otherwise (CI logs stay readable). One small API for every stage.
 */
import cliProgress from 'cli-progress';
import type { Writable } from 'node:stream';

export interface Progress {
  /** n more items done (default 1), costing `work` (default n) units of ProgressOptions.work. */
  tick(n?: number, work?: number): void;
  /** n items found done already (reused): counted, but not part of the rate or the ETA. */
  skip(n: number, work?: number): void;
  /** A message that must not be garbled by the bar. */
  log(message: string): void;
  /** Ends the bar (or prints the closing line). Idempotent. */
  stop(): void;
}

export interface ProgressOptions {
  /** @default process.stderr */
  stream?: Writable & { isTTY?: boolean };
  /** Minimum time between plain lines. @default 5000 */
  intervalMs?: number;
  /** Clock in ms, for tests. @default performance.now */
  now?: () => number;
  /**
   * Total work of all items, when items cost unequal amounts (filters of different layers and sizes):
   * the ETA is then the work left at the rate of work done, not items left at the rate of items.
   * @default total (one unit per item)
   */
  work?: number;
  /**
   * The whole stage's estimated seconds (atlas/plan.ts, from what this machine measured): the ETA
   * until the first items are done, when there is no rate of this run yet.
   */
  expectedSeconds?: number;
}

/** done/total counting, and an ETA from the work done so far and the work left. */
function tracker(total: number, totalWork: number, now: () => number, expectedSeconds?: number) {
  const started = now();
  const state = { done: 0, computed: 0, workDone: 0, workLeft: totalWork };
  return {
    state,
    tick(n: number, work: number) {
      state.done += n;
      state.computed += n;
      state.workDone += work;
      state.workLeft -= work;
    },
    skip(n: number, work: number) {
      state.done += n;
      state.workLeft -= work;
    },
    seconds: () => (now() - started) / 1000,
    /** Items computed per second (reused ones excluded). */
    rate: () => state.computed / ((now() - started) / 1000),
    /** Seconds left: from this run's rate once work is done, before that from the expected seconds (else NaN). */
    eta(): number {
      if (state.done >= total) return Number.NaN;
      if (state.workDone <= 0) {
        if (expectedSeconds === undefined || totalWork <= 0) return Number.NaN;
        return Math.max(0, (expectedSeconds * Math.max(0, state.workLeft)) / totalWork - (now() - started) / 1000);
      }
      return (Math.max(0, state.workLeft) * ((now() - started) / 1000)) / state.workDone;
    },
  };
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function formatRate(perSecond: number): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return '-';
  return perSecond >= 1 ? `${perSecond.toFixed(1)}/s` : `${(1 / perSecond).toFixed(1)}s each`;
}

export function createProgress(label: string, total: number, options: ProgressOptions = {}): Progress {
  const stream = options.stream ?? process.stderr;
  const now = options.now ?? (() => performance.now());
  const track = tracker(total, options.work ?? total, now, options.expectedSeconds);
  return stream.isTTY ? barProgress(label, total, stream, track) : lineProgress(label, total, stream, track, options.intervalMs ?? 5000);
}

type Tracker = ReturnType<typeof tracker>;

function barProgress(label: string, total: number, stream: Writable, track: Tracker): Progress {
  // A MultiBar with one bar: it is the cli-progress type that can print lines above the bar. The ETA
  // is ours (from the work left), not cli-progress's (from items left).
  const bars = new cliProgress.MultiBar(
    { stream, hideCursor: true, clearOnComplete: false, format: `${label} [{bar}] {value}/{total} | {rate} | ETA {eta}` },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(total, 0, { rate: '-', eta: formatDuration(track.eta()) });
  let stopped = false;
  const update = (n: number) => bar.increment(n, { rate: formatRate(track.rate()), eta: formatDuration(track.eta()) });
  return {
    tick(n = 1, work = n) {
      if (stopped) return;
      track.tick(n, work);
      update(n);
    },
    skip(n, work = n) {
      if (stopped) return;
      track.skip(n, work);
      update(n);
    },
    log(message) {
      if (stopped) stream.write(`${message}\n`);
      else bars.log(`${message}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      bars.update(); // flushes log lines still buffered until the next redraw
      bars.stop();
    },
  };
}

function lineProgress(label: string, total: number, stream: Writable, track: Tracker, intervalMs: number): Progress {
  let lastLine = 0;
  let stopped = false;
  const { state } = track;
  const line = (): string => {
    const percent = total > 0 ? ` (${Math.floor((100 * state.done) / total)}%)` : '';
    const eta = Number.isFinite(track.eta()) ? `, ETA ${formatDuration(track.eta())}` : '';
    return `${label}: ${state.done}/${total}${percent}, ${formatRate(track.rate())}${eta}\n`;
  };
  // The plan's estimate, before this run has a rate of its own.
  if (Number.isFinite(track.eta())) stream.write(`${label}: 0/${total}, ETA ${formatDuration(track.eta())} (planned)\n`);
  const maybeLine = () => {
    if (track.seconds() * 1000 - lastLine >= intervalMs) {
      lastLine = track.seconds() * 1000;
      stream.write(line());
    }
  };
  return {
    tick(n = 1, work = n) {
      if (stopped) return;
      track.tick(n, work);
      maybeLine();
    },
    skip(n, work = n) {
      if (stopped) return;
      track.skip(n, work);
    },
    log(message) {
      stream.write(`${label}: ${message}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      stream.write(`${label}: ${state.done}/${total} done in ${formatDuration(track.seconds())}\n`);
    },
  };
}
