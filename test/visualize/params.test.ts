import { describe, expect, it } from 'vitest';
import { articleMethodParams, defaultMethodParams, describeMethod, NOT_THE_ARTICLES, finalSize, methodParamsSchema, scaleSizes } from '../../pipeline/schema/article-params.js';
import { createRandom, deriveSeed } from '../../pipeline/util/random.js';
import { noiseImage } from '../../pipeline/visualize/parameterization.js';
import { filterCost } from '../../pipeline/visualize/cost.js';
import { loadModel } from '../../pipeline/model/load.js';

describe('method parameters', () => {
  it('default to the article', () => {
    expect(defaultMethodParams).toEqual({
      startSize: 56,
      scales: 12,
      upscale: 1.2,
      stepsPerScale: 20,
      learningRate: 0.1,
      weightDecay: 1e-6,
      blurSize: 5,
      noise: [150 / 255, 180 / 255],
      space: 'imagenet',
      clipBetweenScales: true,
    });
  });

  it('give the article sizes per scale (int(size * 1.2))', () => {
    expect(scaleSizes(defaultMethodParams)).toEqual([56, 67, 80, 96, 115, 138, 165, 198, 237, 284, 340, 408]);
    expect(finalSize({ startSize: 56, scales: 3, upscale: 1.2 })).toBe(80);
    expect(scaleSizes({ startSize: 100, scales: 2, upscale: 1 })).toEqual([100, 100]);
  });

  it("name the two defaults that are ours, not the article's", () => {
    expect(Object.keys(NOT_THE_ARTICLES).sort()).toEqual(['clipBetweenScales', 'space']);
    expect(defaultMethodParams).toMatchObject({ space: 'imagenet', clipBetweenScales: true });
    expect(articleMethodParams).toEqual({
      startSize: 56, scales: 12, upscale: 1.2, stepsPerScale: 20, learningRate: 0.1, weightDecay: 1e-6, blurSize: 5,
      noise: [150 / 255, 180 / 255], space: 'model', clipBetweenScales: false,
    });
  });

  it('reject an even blur, reversed noise and unknown fields', () => {
    expect(methodParamsSchema.safeParse({ blurSize: 4 }).success).toBe(false);
    expect(methodParamsSchema.safeParse({ blurSize: 0 }).success).toBe(true);
    expect(methodParamsSchema.safeParse({ noise: [0.7, 0.6] }).success).toBe(false);
    expect(methodParamsSchema.safeParse({ learningrate: 0.1 }).success).toBe(false);
  });

  it('describe the method in one sentence naming its numbers', () => {
    const text = describeMethod(defaultMethodParams);
    expect(text).toBe(
      'Maximises the mean activation of one filter: starting from 56x56 uniform noise in [150, 180]/255, ' +
        '12 scales of 20 Adam steps (lr 0.1, weight decay 0.000001) on ImageNet-normalised pixels, ' +
        'the image upscaled x1.2 (bicubic), box-blurred 5x5, clipped to [0, 1] between scales; output 408x408 px.',
    );
    const article = describeMethod(methodParamsSchema.parse({ space: 'model', blurSize: 0, clipBetweenScales: false, scales: 1 }));
    expect(article).toContain("1 scale of 20 Adam steps");
    expect(article).toContain("on the model's own input");
    expect(article).not.toContain('blurred');
  });
});

describe('seeded random numbers', () => {
  it('repeat for a seed and differ between seeds', () => {
    const a = createRandom(42);
    const b = createRandom(42);
    const c = createRandom(43);
    const seqA = Array.from({ length: 5 }, () => a.uint32());
    expect(Array.from({ length: 5 }, () => b.uint32())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.uint32())).not.toEqual(seqA);
  });

  it('are uniform in [0, 1)', () => {
    const random = createRandom(7);
    const values = Array.from({ length: 20000 }, () => random.next());
    expect(Math.min(...values)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...values)).toBeLessThan(1);
    const mean = values.reduce((s, v) => s + v, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.01); // std of the mean is 0.002
    const buckets = new Array(10).fill(0);
    for (const v of values) buckets[Math.floor(v * 10)]++;
    for (const count of buckets) expect(Math.abs(count - 2000)).toBeLessThan(200);
  });

  it('derive seeds that depend on every part and their order, including high bits', () => {
    expect(deriveSeed(1, 2)).toBe(deriveSeed(1, 2));
    expect(deriveSeed(1, 2)).not.toBe(deriveSeed(2, 1));
    expect(deriveSeed(0, 5)).not.toBe(deriveSeed(0, 6));
    expect(deriveSeed(2 ** 40, 0)).not.toBe(deriveSeed(0, 0));
    expect(() => deriveSeed(-1)).toThrow(/non-negative/);
  });

  it('start from seeded noise in the article range', () => {
    const a = noiseImage(0, 8, [150 / 255, 180 / 255]);
    const b = noiseImage(1, 8, [150 / 255, 180 / 255]);
    expect(a).toEqual(noiseImage(0, 8, [150 / 255, 180 / 255]));
    expect(a).not.toEqual(b);
    const bytes = new Set(Array.from(a, (v) => Math.round(v * 255)));
    for (const v of a) expect(Number.isInteger(Math.round(v * 255 * 1e4) / 1e4)).toBe(true); // whole bytes
    expect(Math.min(...bytes)).toBeGreaterThanOrEqual(150);
    expect(Math.max(...bytes)).toBeLessThanOrEqual(179);
    expect(bytes.size).toBeGreaterThan(20);
  });
});

describe('filter cost', () => {
  it("orders default.yaml's layers as measured (16 filters each: 1 : 1.7 : 1.6 : 6.1-6.8 seconds)", async () => {
    const model = await loadModel('darknet-tiny');
    const article = (fields: Record<string, number>) => ({ kind: 'article' as const, params: methodParamsSchema.parse(fields) });
    const early = article({ scales: 3, upscale: 1.6, stepsPerScale: 10 });
    const last = article({ scales: 4, upscale: 1.6, stepsPerScale: 10 });
    const base = filterCost(model, 'leaky_re_lu_2', early);
    const ratios = [filterCost(model, 'leaky_re_lu_6', early), filterCost(model, 'leaky_re_lu_10', early), filterCost(model, 'conv2d_16', last)].map((c) => c / base);
    expect(ratios[0]).toBeGreaterThan(1.3);
    expect(ratios[0]).toBeLessThan(2.2);
    expect(ratios[1]).toBeGreaterThan(1.3);
    expect(ratios[1]).toBeLessThan(2.6);
    expect(ratios[2]).toBeGreaterThan(5);
    expect(ratios[2]).toBeLessThan(8.5);
    expect(filterCost(model, 'leaky_re_lu_2', article({ scales: 3, upscale: 1.6, stepsPerScale: 20 }))).toBe(2 * base);
  });
});
