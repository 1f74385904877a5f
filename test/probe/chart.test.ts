import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { niceStep, renderProbeChart, tickLabel } from '../../pipeline/render/chart.js';
import { topChannels } from '../../pipeline/probe/probe.js';

function series(n: number, seed = 3): number[] {
  let state = seed;
  return Array.from({ length: n }, () => ((state = (state * 16807) % 2147483647) / 2147483647) * 2 - 0.5);
}

function chartOf(means: number[], k = 5, labels?: string[]) {
  const top = topChannels(means, k).map((filter) => ({ filter, mean: means[filter], label: labels?.[filter] }));
  return { svg: renderProbeChart({ means, top, title: 'darknet-tiny conv2d_16: <tench> & co' }), top };
}

describe('renderProbeChart', () => {
  it('draws one bar per channel, whole pixels wide, with the top K highlighted and labelled', () => {
    for (const [n, width] of [
      [1000, 1096],
      [512, 1120],
      [64, 1184],
    ] as const) {
      const means = series(n);
      means[n - 3] = 9;
      const { svg, top } = chartOf(means, 5);
      expect(svg).toContain(`width="${width}" height="476"`);
      const path = /<path d="([^"]*)" fill="#8c96a0"\/>/.exec(svg)![1];
      expect(path.match(/M/g)).toHaveLength(n - 5);
      const barWidths = [...path.matchAll(/h(\d+)V/g)].map((m) => Number(m[1]));
      expect(Math.min(...barWidths)).toBeGreaterThanOrEqual(1);
      expect(new Set(barWidths).size).toBe(1);
      const topGroup = /<g [^>]*fill="#d9480f">([\s\S]*?)<\/g>/.exec(svg)![1];
      expect(topGroup.match(/<rect /g)).toHaveLength(5);
      const labels = [...topGroup.matchAll(/<text x="[^"]+" y="[^"]+"[^>]*>(\d+)<\/text>/g)].map((m) => Number(m[1]));
      expect(labels).toEqual(top.map((t) => t.filter));
      expect(top[0].filter).toBe(n - 3);
    }
  });

  it('labels top bars with filter and label, escapes text, and is byte-for-byte deterministic', () => {
    const means = series(1000);
    const labels = means.map((_, i) => (i === 286 ? 'arch <triumphal>' : `class ${i}`));
    means[286] = 12;
    const first = chartOf(means, 5, labels).svg;
    expect(first).toBe(chartOf(means, 5, labels).svg);
    expect(first).toContain('>286 arch &lt;triumphal&gt;</text>');
    expect(first).toContain('<title>darknet-tiny conv2d_16: &lt;tench&gt; &amp; co</title>');
    expect(first).not.toMatch(/NaN|undefined|Infinity/);
  });

  it('draws y ticks on round values and a zero line when activations go negative', () => {
    const means = series(100).map((v) => v * 3);
    const { svg } = chartOf(means);
    const ticks = [...svg.matchAll(/<text x="64" y="[^"]+">(-?[\d.]+)<\/text>/g)].map((m) => Number(m[1]));
    expect(ticks[0]).toBeLessThan(0);
    const steps = new Set(ticks.slice(1).map((t, i) => Math.round((t - ticks[i]) * 1e6) / 1e6));
    expect([...steps]).toEqual([niceStep((Math.max(...means) - Math.min(...means)) / 5)]);
    expect(svg.match(/<line x1="72" x2="1172"/g)?.length).toBeGreaterThan(ticks.length);
  });

  it('renders with librsvg at its declared size', async () => {
    const means = series(1000);
    const { svg } = chartOf(means);
    const meta = await sharp(Buffer.from(svg)).png().toBuffer().then((png) => sharp(png).metadata());
    expect([meta.width, meta.height]).toEqual([1096, 476]);
  });
});

describe('niceStep', () => {
  it('rounds up to 1, 2 or 5 times a power of ten', () => {
    expect([0.013, 0.3, 1, 1.5, 3, 7, 51.2, 100].map(niceStep)).toEqual([0.02, 0.5, 1, 2, 5, 10, 100, 100]);
  });
});

describe('chart ticks of a layer at 1e-7', () => {
  it('label small steps in scientific notation instead of 0.000000, everyday steps as before', () => {
    expect(tickLabel(3e-7, 1e-7)).toBe('3e-7');
    expect(tickLabel(1.5e-7, 5e-8)).toBe('1.5e-7');
    expect(tickLabel(-2e-7 + 1e-23, 1e-7)).toBe('-2e-7');
    expect(tickLabel(0, 1e-7)).toBe('0');
    expect(tickLabel(0.000004, 0.000002)).toBe('0.000004');
    expect(tickLabel(2.5, 0.5)).toBe('2.5');
    expect(tickLabel(10, 5)).toBe('10');
  });
});
