/**
 * The probe's bar chart as a standalone SVG: one bar per channel (whole pixels wide, so 1000
 * channels stay crisp at about 1100 px), the top K bars highlighted and labelled with filter index
 * and label, y ticks on round numbers, x ticks on channel indices. Pure and deterministic: the same
 * input gives the same bytes (numbers rounded to 0.01 px, no ids, no dates).
 */

export interface ProbeChartInput {
  means: readonly number[];
  top: ReadonlyArray<{ filter: number; mean: number; label?: string }>;
  title: string;
  /** Per channel labels, used for top bars that carry no label of their own. */
  labels?: readonly string[];
}

const MARGIN = { left: 72, right: 24, top: 64, bottom: 52 };
const PLOT_HEIGHT = 360;
/** Width the bars aim for; each bar gets floor(TARGET / channels) px, at least 1. */
const TARGET_PLOT_WIDTH = 1104;
const FONT = 'font-family="DejaVu Sans, Helvetica, Arial, sans-serif"';
const LABEL_SIZE = 11;
/** Rough advance of one character at LABEL_SIZE, to keep labels from overlapping. */
const CHAR_WIDTH = 6.6;
const ROW_HEIGHT = 14;
const COLOURS = { bar: '#8c96a0', top: '#d9480f', axis: '#343a40', grid: '#e9ecef', text: '#212529' };

interface Placed {
  left: number;
  right: number;
  top: number;
  bottom: number;
}

export function renderProbeChart(input: ProbeChartInput): string {
  const { means, top, title } = input;
  const n = means.length;
  if (n === 0) throw new RangeError('renderProbeChart: no channels to plot');
  const barWidth = Math.max(1, Math.floor(TARGET_PLOT_WIDTH / n));
  const plotWidth = barWidth * n;
  const width = MARGIN.left + plotWidth + MARGIN.right;
  const height = MARGIN.top + PLOT_HEIGHT + MARGIN.bottom;
  const plotTop = MARGIN.top;
  const plotBottom = MARGIN.top + PLOT_HEIGHT;

  const finite = means.filter(Number.isFinite);
  const low = Math.min(0, ...finite);
  let high = Math.max(0, ...finite);
  if (high === low) high = low + 1;
  const step = niceStep((high - low) / 5);
  // Headroom above the highest bar for the labels of the top bars.
  const domainLow = low < 0 ? Math.floor(low / step) * step : 0;
  const domainHigh = high + (high - domainLow) * 0.18;
  const yOf = (value: number): number => plotTop + ((domainHigh - value) / (domainHigh - domainLow)) * PLOT_HEIGHT;
  const xOf = (channel: number): number => MARGIN.left + channel * barWidth;
  const zero = yOf(0);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" role="img">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${MARGIN.left}" y="26" ${FONT} font-size="16" font-weight="bold" fill="${COLOURS.text}">${escapeXml(title)}</text>`,
    `<text x="${MARGIN.left}" y="46" ${FONT} font-size="12" fill="${COLOURS.text}">${escapeXml(subtitle(n, top))}</text>`,
  );

  // Y grid and ticks.
  out.push(`<g ${FONT} font-size="11" fill="${COLOURS.text}" text-anchor="end">`);
  for (let tick = domainLow; tick <= domainHigh + step * 1e-9; tick += step) {
    const value = roundTo(tick, step);
    const y = fmt(yOf(value));
    out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${y}" y2="${y}" stroke="${COLOURS.grid}"/>`);
    out.push(`<line x1="${MARGIN.left - 5}" x2="${MARGIN.left}" y1="${y}" y2="${y}" stroke="${COLOURS.axis}"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${fmt(yOf(value) + 4)}">${escapeXml(tickLabel(value, step))}</text>`);
  }
  out.push('</g>');

  // All bars as one path (1000 rects would triple the file size); the top bars are drawn again on top.
  const highlighted = new Set(top.map((t) => t.filter));
  const drawn = barWidth >= 4 ? barWidth - 1 : barWidth;
  let path = '';
  for (let c = 0; c < n; c++) {
    const value = means[c];
    if (!Number.isFinite(value) || highlighted.has(c)) continue;
    const y = yOf(value);
    path += `M${fmt(xOf(c))} ${fmt(zero)}h${drawn}V${fmt(y)}h${-drawn}z`;
  }
  out.push(`<path d="${path}" fill="${COLOURS.bar}"/>`);

  // Top bars: at least 3 px wide so a 1 px bar among 1000 is still visible, with labels placed to avoid overlaps.
  const placed: Placed[] = [];
  const labelTexts: string[] = [];
  const topWidth = Math.max(drawn, 3);
  // Labels get a white halo (paint-order stroke) so leader lines of neighbouring bars never cross readable text.
  out.push(`<g ${FONT} font-size="${LABEL_SIZE}" fill="${COLOURS.top}">`);
  for (const entry of top) {
    if (entry.filter < 0 || entry.filter >= n || !Number.isFinite(means[entry.filter])) continue;
    const value = means[entry.filter];
    const centre = xOf(entry.filter) + drawn / 2;
    const barTop = Math.min(yOf(value), zero);
    out.push(`<rect x="${fmt(centre - topWidth / 2)}" y="${fmt(barTop)}" width="${topWidth}" height="${fmt(Math.abs(zero - yOf(value)))}"/>`);
    const label = entry.label ?? input.labels?.[entry.filter];
    const text = label ? `${entry.filter} ${label}` : `${entry.filter}`;
    const box = placeLabel(text, centre, barTop - 6, placed, width);
    placed.push(box);
    const baseline = box.bottom - 3;
    if (barTop - box.bottom > 4) {
      out.push(`<line x1="${fmt(centre)}" x2="${fmt(centre)}" y1="${fmt(box.bottom)}" y2="${fmt(barTop - 1)}" stroke="${COLOURS.top}" stroke-width="0.75"/>`);
    }
    labelTexts.push(`<text x="${fmt(box.left)}" y="${fmt(baseline)}" stroke="#ffffff" stroke-width="3" paint-order="stroke">${escapeXml(text)}</text>`);
  }
  // Texts after every bar and leader line, so they are painted on top.
  out.push(...labelTexts, '</g>');

  // Axes.
  out.push(`<g stroke="${COLOURS.axis}" fill="none">`);
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left}" y1="${plotTop}" y2="${plotBottom}"/>`);
  out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${plotBottom}" y2="${plotBottom}"/>`);
  if (domainLow < 0) out.push(`<line x1="${MARGIN.left}" x2="${MARGIN.left + plotWidth}" y1="${fmt(zero)}" y2="${fmt(zero)}"/>`);
  out.push('</g>');
  const xStep = Math.max(1, niceStep(n / 10));
  out.push(`<g ${FONT} font-size="11" fill="${COLOURS.text}" text-anchor="middle">`);
  for (let c = 0; c < n; c += xStep) {
    const x = fmt(xOf(c) + barWidth / 2);
    out.push(`<line x1="${x}" x2="${x}" y1="${plotBottom}" y2="${plotBottom + 5}" stroke="${COLOURS.axis}"/>`);
    out.push(`<text x="${x}" y="${plotBottom + 18}">${c}</text>`);
  }
  out.push(`<text x="${fmt(MARGIN.left + plotWidth / 2)}" y="${height - 10}" font-size="12">filter (channel index)</text>`);
  out.push(
    `<text transform="translate(16 ${fmt(plotTop + PLOT_HEIGHT / 2)}) rotate(-90)" font-size="12">mean activation</text>`,
  );
  out.push('</g>', '</svg>');
  return out.join('\n') + '\n';
}

function subtitle(n: number, top: ProbeChartInput['top']): string {
  const best = top
    .slice(0, 5)
    .map((t) => `${t.filter}${t.label ? ` (${t.label})` : ''} ${t.mean.toPrecision(3)}`)
    .join(', ');
  return `${n} channels; highest: ${best}`;
}

/** Tries rows above the bar, then rows higher up, until the label's box overlaps nothing placed before. */
function placeLabel(text: string, centre: number, baseline: number, placed: readonly Placed[], chartWidth: number): Placed {
  const textWidth = text.length * CHAR_WIDTH;
  const left = Math.min(Math.max(2, centre - textWidth / 2), chartWidth - textWidth - 2);
  let box: Placed = { left, right: left + textWidth, top: baseline - LABEL_SIZE, bottom: baseline + 3 };
  for (let row = 0; row < 40; row++) {
    box = { left, right: left + textWidth, top: baseline - LABEL_SIZE - row * ROW_HEIGHT, bottom: baseline + 3 - row * ROW_HEIGHT };
    if (!placed.some((other) => box.left < other.right && other.left < box.right && box.top < other.bottom && other.top < box.bottom)) break;
  }
  return box;
}

/** 1, 2 or 5 times a power of ten, at least `raw`. */
export function niceStep(raw: number): number {
  if (!(raw > 0) || !Number.isFinite(raw)) return 1;
  const power = 10 ** Math.floor(Math.log10(raw));
  const fraction = raw / power;
  return (fraction <= 1 ? 1 : fraction <= 2 ? 2 : fraction <= 5 ? 5 : 10) * power;
}

function roundTo(value: number, step: number): number {
  return Math.round(value / step) * step;
}

/**
 * A tick at multiples of `step`: plain decimals down to steps of 1e-6; below that (a layer whose
 * activations are about 1e-7) scientific notation with as many digits as the step needs, where six
 * decimals would print every tick as 0.000000.
 */
export function tickLabel(value: number, step: number): string {
  const decimals = Math.max(0, -Math.floor(Math.log10(step)));
  if (decimals <= 6) return value.toFixed(decimals);
  const rounded = roundTo(value, step);
  if (rounded === 0) return '0';
  return rounded.toExponential(Math.max(0, Math.floor(Math.log10(Math.abs(rounded))) - Math.floor(Math.log10(step))));
}

/** Numbers in the SVG: at most two decimals, no trailing zeros, no "-0". */
function fmt(value: number): string {
  const rounded = Math.round(value * 100) / 100;
  return String(rounded === 0 ? 0 : rounded);
}

export function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
