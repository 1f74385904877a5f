/** Plain-text tables of bench rows, with the PyTorch/ours ratio per row. */
import { formatBytes } from '../pipeline/engine/ort/placement.js';

export interface TableRow {
  engine: string;
  model: string;
  layer: string;
  size: number;
  batch: number;
  ratio_vs_pytorch?: number;
  device?: string;
  placement?: string;
  bytes_per_step?: { to_device: number; to_host: number };
}

/** One line per row; `seconds` names the timing field (seconds_per_step, seconds_per_filter). */
export function formatTable<R extends TableRow>(rows: readonly R[], seconds: keyof R & string): string {
  const unit = seconds.replace(/^seconds_per_/, 's/');
  const header = ['engine', 'model', 'layer', 'size', 'batch', unit, 'PyTorch/ours', 'device', 'placement', 'bytes/step'];
  const body = rows.map((r) => [
    r.engine,
    r.model,
    r.layer,
    String(r.size),
    String(r.batch),
    Number(r[seconds]).toFixed(3),
    r.ratio_vs_pytorch === undefined ? (r.engine === 'pytorch' ? '1' : '-') : r.ratio_vs_pytorch.toFixed(2),
    r.device ?? '',
    r.placement ?? '',
    r.bytes_per_step ? `${formatBytes(r.bytes_per_step.to_device)} in, ${formatBytes(r.bytes_per_step.to_host)} out` : '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((cells) => cells[i].length)));
  const numeric = new Set([3, 4, 5, 6]);
  const line = (cells: string[]) => cells.map((c, i) => (numeric.has(i) ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
