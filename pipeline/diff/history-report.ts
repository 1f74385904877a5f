/** The terminal summary of a history: per layer, each step's counts (changed / drifted / unchanged), then the units that changed first. */
import type { AtlasHistory } from '../schema/history.js';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]) : c)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

export function formatHistorySummary(history: AtlasHistory, options: { file?: string } = {}): string {
  const out: string[] = [];
  out.push(`history ${history.name}: ${history.versions.map((v) => v.id).join(' -> ')}, ${history.dataset.name} (${history.dataset.images} images), ${history.seconds.toFixed(1)} s`);
  for (const step of history.steps) {
    for (const left of step.omitted) out.push(`step ${step.from} -> ${step.to}: left out ${left.signal}: ${left.reason}`);
    for (const warning of step.warnings) out.push(`step ${step.from} -> ${step.to}: warning: ${warning}`);
  }
  out.push('', 'changed / drifted / unchanged units per step (died and revived count as changed):');
  out.push(
    table(
      ['layer', ...history.steps.map((s) => `${s.from} -> ${s.to}`)],
      history.layers.map((layer) => [
        layer.name,
        ...layer.steps.map((s) => `${s.counts.changed + s.counts.died + s.counts.revived} / ${s.counts.drifted} / ${s.counts.unchanged}${s.permuted ? ' (permuted)' : ''}`),
      ]),
    ),
  );
  const changed = history.filters.filter((f) => f.changed !== null);
  out.push('', `${history.filters.length} units followed across ${history.versions.length} versions: ${changed.length} changed at some step` +
    (changed.length ? ` (first at version ${Math.min(...changed.map((f) => f.changed!))})` : ''));
  if (options.file) out.push(`history written to ${options.file}`);
  return out.join('\n') + '\n';
}
