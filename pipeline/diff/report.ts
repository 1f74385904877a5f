/** The terminal summary of a diff: one line per layer, why units were matched or left out, the most changed units, the totals. */
import { FILTER_STATUS_LABELS, type AtlasDiff, type LayerDiff } from './schema.js';

function list(values: readonly number[], max = 12): string {
  return values.length > max ? `${values.slice(0, max).join(', ')}, ...` : values.join(', ');
}

const units = (n: number) => `${n} unit${n === 1 ? '' : 's'}`;

/**
 * Why a layer's counts are what they are, in words (the diff page says the same): units matched to
 * another channel, and units of A that could not be compared.
 */
export function explainLayer(layer: Pick<LayerDiff, 'name' | 'channels' | 'compared' | 'notCompared' | 'permuted' | 'matches' | 'identityCorrelation' | 'matchedCorrelation'>): string[] {
  const lines: string[] = [];
  if (layer.matches.length > 0) {
    lines.push(
      `${layer.name}: ${units(layer.matches.length)} of ${layer.channels} matched to another channel of B by their activations over the dataset ` +
        `(mean correlation ${layer.identityCorrelation.toFixed(2)} at the same index, ${layer.matchedCorrelation.toFixed(2)} matched): ` +
        `${layer.permuted ? 'the channels were reordered, which is not a change' : 'kept as matches'}; each is compared with its match.`,
    );
  }
  if (layer.notCompared.length > 0) {
    lines.push(
      `${layer.name}: ${units(layer.notCompared.length)} of A not compared (${list(layer.notCompared)}): the unit of B matched to ${layer.notCompared.length === 1 ? 'it' : 'each'} ` +
        `is not in B's filter selection. Visualise every filter of the layer in both atlases (filters: all) to compare them all.`,
    );
  }
  return lines;
}

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
      ['layer', 'units', 'unchanged', 'drifted', 'changed', 'died', 'revived', 'both dead', 'mean score', 'matching'],
      diff.layers.map((l) => [
        l.name,
        String(l.compared),
        String(l.counts.unchanged),
        String(l.counts.drifted),
        String(l.counts.changed),
        String(l.counts.died),
        String(l.counts.revived),
        String(l.counts.dead),
        fixed(l.meanScore, 3),
        l.permuted ? `permuted: ${l.matches.length} units moved (r ${fixed(l.identityCorrelation)} -> ${fixed(l.matchedCorrelation)})` : '',
      ]),
    ),
  );
  const notes = diff.layers.flatMap(explainLayer);
  if (notes.length > 0) out.push('', ...notes);
  const top = diff.filters.filter((f) => f.status !== 'unchanged' && f.status !== 'dead').slice(0, options.top ?? 10);
  if (top.length > 0) {
    out.push('', 'most changed units (score: 0 same .. 1 unrelated):');
    out.push(
      table(
        ['rank', 'layer', 'unit', 'status', 'score', 'r', 'top-k', 'cross', 'ssim'],
        top.map((f) => [
          String(f.rank),
          f.layer,
          f.a.filter === f.b.filter ? String(f.a.filter) : `${f.a.filter}->${f.b.filter}`,
          FILTER_STATUS_LABELS[f.status],
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
  out.push('', `${s.total} units: ${s.unchanged} unchanged, ${s.drifted} drifted, ${s.changed} changed, ${s.died} died, ${s.revived} revived, ${s.dead} both dead` +
    (s.changedLayers.length ? `; changed layers: ${s.changedLayers.join(', ')}` : '; no layer changed') +
    (s.driftedLayers.length ? `; drifted layers: ${s.driftedLayers.join(', ')}` : ''));
  if (options.file) out.push(`diff written to ${options.file}`);
  return out.join('\n') + '\n';
}
