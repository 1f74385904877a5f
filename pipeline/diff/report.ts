/** The terminal summary of a diff: one line per layer, the most changed units, the totals. */
import type { AtlasDiff } from './schema.js';

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const line = (cells: string[]) => cells.map((c, i) => (i < cells.length - 1 ? c.padEnd(widths[i]) : c)).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}

const fixed = (x: number | undefined, digits = 2) => (x === undefined ? '-' : x.toFixed(digits));

export function formatDiffSummary(diff: AtlasDiff, options: { top?: number; file?: string } = {}): string {
  const out: string[] = [];
  out.push(`${diff.a.id} (${diff.a.model.name}) -> ${diff.b.id} (${diff.b.model.name}), ${diff.dataset.name} (${diff.dataset.images} images), ${diff.seconds.toFixed(1)} s`);
  for (const warning of diff.warnings) out.push(`warning: ${warning}`);
  out.push('');
  out.push(
    table(
      ['layer', 'units', 'unchanged', 'drifted', 'changed', 'died', 'revived', 'mean score', 'matching'],
      diff.layers.map((l) => [
        l.name,
        String(l.compared),
        String(l.counts.unchanged),
        String(l.counts.drifted),
        String(l.counts.changed),
        String(l.counts.died),
        String(l.counts.revived),
        fixed(l.meanScore, 3),
        l.permuted ? `permuted: ${l.matches.length} units moved (r ${fixed(l.identityCorrelation)} -> ${fixed(l.matchedCorrelation)})` : '',
      ]),
    ),
  );
  const top = diff.filters.filter((f) => f.status !== 'unchanged').slice(0, options.top ?? 10);
  if (top.length > 0) {
    out.push('', 'most changed units (score: 0 same .. 1 unrelated):');
    out.push(
      table(
        ['rank', 'layer', 'unit', 'status', 'score', 'r', 'top-k', 'cross', 'ssim'],
        top.map((f) => [
          String(f.rank),
          f.layer,
          f.a.filter === f.b.filter ? String(f.a.filter) : `${f.a.filter}->${f.b.filter}`,
          f.status,
          fixed(f.score, 3),
          fixed(f.signals.correlation),
          fixed(f.signals.topOverlap),
          fixed(f.components.cross),
          fixed(f.signals.ssim),
        ]),
      ),
    );
  }
  const s = diff.summary;
  out.push('', `${s.total} units: ${s.unchanged} unchanged, ${s.drifted} drifted, ${s.changed} changed, ${s.died} died, ${s.revived} revived` +
    (s.changedLayers.length ? `; changed layers: ${s.changedLayers.join(', ')}` : '; no layer changed') +
    (s.driftedLayers.length ? `; drifted layers: ${s.driftedLayers.join(', ')}` : ''));
  if (options.file) out.push(`diff written to ${options.file}`);
  return out.join('\n') + '\n';
}
