/**
 * Progress of a long stage on stderr: a cli-progress bar (done/total, rate, ETA) on a terminal,
 * plain lines every few seconds otherwise (CI logs stay readable). One small API for every stage.
 */
import cliProgress from 'cli-progress';
import type { Writable } from 'node:stream';

export interface Progress {
  /** n more items done (default 1). */
  tick(n?: number): void;
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
  return stream.isTTY ? barProgress(label, total, stream, now) : lineProgress(label, total, stream, now, options.intervalMs ?? 5000);
}

function barProgress(label: string, total: number, stream: Writable, now: () => number): Progress {
  const started = now();
  // A MultiBar with one bar: it is the cli-progress type that can print lines above the bar.
  const bars = new cliProgress.MultiBar(
    { stream, hideCursor: true, clearOnComplete: false, format: `${label} [{bar}] {value}/{total} | {rate} | ETA {eta_formatted}` },
    cliProgress.Presets.shades_classic,
  );
  const bar = bars.create(total, 0, { rate: '-' });
  let done = 0;
  let stopped = false;
  return {
    tick(n = 1) {
      if (stopped) return;
      done += n;
      bar.increment(n, { rate: formatRate(done / ((now() - started) / 1000)) });
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

function lineProgress(label: string, total: number, stream: Writable, now: () => number, intervalMs: number): Progress {
  const started = now();
  let lastLine = started;
  let done = 0;
  let stopped = false;
  const line = (): string => {
    const seconds = (now() - started) / 1000;
    const rate = done / seconds;
    const percent = total > 0 ? ` (${Math.floor((100 * done) / total)}%)` : '';
    const eta = done > 0 && done < total ? `, ETA ${formatDuration((total - done) / rate)}` : '';
    return `${label}: ${done}/${total}${percent}, ${formatRate(rate)}${eta}\n`;
  };
  return {
    tick(n = 1) {
      if (stopped) return;
      done += n;
      if (now() - lastLine >= intervalMs) {
        lastLine = now();
        stream.write(line());
      }
    },
    log(message) {
      stream.write(`${label}: ${message}\n`);
    },
    stop() {
      if (stopped) return;
      stopped = true;
      stream.write(`${label}: ${done}/${total} done in ${formatDuration((now() - started) / 1000)}\n`);
    },
  };
}
