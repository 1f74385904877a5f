/**
 * Progress of one asset fetch on stderr: a cli-progress bar on a terminal, a few plain lines
 * otherwise (CI logs: start, each quarter, end), nothing when disabled. Progress is counted
 * in bytes when sizes are known (pinned, or announced by the server), else in files.
 */
import type { Writable } from 'node:stream';

export interface FetchProgress {
  /** Bytes received (negative to take back the bytes of an attempt that will be retried). */
  bytes(count: number): void;
  /** A file whose size was not pinned announced its length. */
  addTotal(bytes: number): void;
  fileDone(): void;
  /** Ends the display; `ok` false when the fetch failed (the error says the rest). */
  stop(ok: boolean): void;
}

export interface ProgressOptions {
  asset: string;
  files: number;
  /** Sum of the pinned sizes of the files to fetch. */
  knownBytes: number;
  source: string;
  enabled: boolean;
  stream?: Writable & { isTTY?: boolean };
}

export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`;
}

const silent: FetchProgress = { bytes() {}, addTotal() {}, fileDone() {}, stop() {} };

/** Shared counting for both displays. */
class Counter {
  files = 0;
  bytes = 0;
  total: number;
  constructor(readonly options: ProgressOptions) {
    this.total = options.knownBytes;
  }
  fraction(): number {
    return this.total > 0 ? this.bytes / this.total : this.files / Math.max(1, this.options.files);
  }
  summary(): string {
    const size = this.total > 0 ? `, ${formatBytes(this.bytes)} of ${formatBytes(this.total)}` : '';
    return `${this.files}/${this.options.files} files${size}`;
  }
}

export async function startProgress(options: ProgressOptions): Promise<FetchProgress> {
  if (!options.enabled) return silent;
  const stream = options.stream ?? process.stderr;
  const size = options.knownBytes > 0 ? ` (${formatBytes(options.knownBytes)})` : '';
  stream.write(`fetching ${options.asset}: ${options.files} file${options.files === 1 ? '' : 's'}${size} from ${options.source}\n`);
  const counter = new Counter(options);
  return stream.isTTY ? barProgress(counter, stream) : lineProgress(counter, stream);
}

async function barProgress(counter: Counter, stream: Writable): Promise<FetchProgress> {
  const { SingleBar, Presets } = (await import('cli-progress')).default;
  const { asset } = counter.options;
  const bar = new SingleBar({ stream, clearOnComplete: true, hideCursor: true, format: `${asset} [{bar}] {percentage}% | {summary} | ETA {eta_formatted}` }, Presets.shades_classic);
  // The bar runs on a 0..1000 scale so that byte and file counting, and totals that grow, look the same.
  const scale = 1000;
  const render = (): void => bar.update(Math.min(scale, Math.round(counter.fraction() * scale)), { summary: counter.summary() });
  bar.start(scale, 0, { summary: counter.summary() });
  return {
    bytes(count) {
      counter.bytes += count;
      render();
    },
    addTotal(bytes) {
      counter.total += bytes;
      render();
    },
    fileDone() {
      counter.files += 1;
      render();
    },
    stop(ok) {
      bar.stop();
      if (ok) stream.write(`${asset}: ${counter.summary()}, verified\n`);
    },
  };
}

function lineProgress(counter: Counter, stream: Writable): FetchProgress {
  const { asset } = counter.options;
  let nextQuarter = 1;
  const report = (): void => {
    let crossed = false;
    while (nextQuarter < 4 && counter.fraction() >= nextQuarter / 4) {
      nextQuarter += 1;
      crossed = true;
    }
    if (crossed) stream.write(`${asset}: ${counter.summary()}\n`);
  };
  return {
    bytes(count) {
      counter.bytes += count;
      report();
    },
    addTotal(bytes) {
      counter.total += bytes;
    },
    fileDone() {
      counter.files += 1;
      report();
    },
    stop(ok) {
      if (ok) stream.write(`${asset}: ${counter.summary()}, verified\n`);
    },
  };
}
