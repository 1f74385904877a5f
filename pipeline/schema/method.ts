/**
 * The visualisation methods an atlas can use, as one tagged value: `article` (Graetz's multi-scale
 * ascent on pixels, article-params.ts, the default) and `lucid` (Fourier + decorrelated colour
 * parameterisation with transformation robustness, lucid-params.ts); visualize/ and visualize/lucid/
 * draw them. The rest of the pipeline (keys, batch plans, cost, atlas.json) asks this module what a
 * method needs, never the kind's own fields.
 */
import { describeMethod, finalSize, scaleSizes, type MethodParams } from './article-params.js';
import { describeLucid, engineSize, imagesPerFilter, type LucidParams } from './lucid-params.js';

export const METHOD_KINDS = ['article', 'lucid'] as const;
export type MethodKind = (typeof METHOD_KINDS)[number];

export type Method = { kind: 'article'; params: MethodParams } | { kind: 'lucid'; params: LucidParams };

/** One sentence for atlas.json and logs. */
export function describe(method: Method): string {
  return method.kind === 'article' ? describeMethod(method.params) : describeLucid(method.params);
}

/** Side of the picture the method returns. */
export function pictureSize(method: Method): number {
  return method.kind === 'article' ? finalSize(method.params) : method.params.size;
}

/** The engine calls of one filter's run: image side and steps at that side (for cost and memory). */
export function schedule(method: Method): Array<{ size: number; steps: number; images: number }> {
  if (method.kind === 'article') return scaleSizes(method.params).map((size) => ({ size, steps: method.params.stepsPerScale, images: 1 }));
  const p = method.params;
  // The diversity term runs the lower layer forward and backward too: counted as one more pass.
  const passes = p.diversity ? 2 : 1;
  return [{ size: engineSize(p), steps: p.steps * passes, images: imagesPerFilter(p) }];
}

/** The largest image the engine sees, and how many per filter: what memory is planned for. */
export function largestEngineImage(method: Method): { size: number; images: number } {
  const calls = schedule(method);
  return { size: Math.max(...calls.map((c) => c.size), pictureSize(method)), images: Math.max(...calls.map((c) => c.images)) };
}

/** atlas.json's method block: kind, description and every parameter. */
export function methodSummary(method: Method): { kind: MethodKind; description: string; params: Record<string, unknown> } {
  return { kind: method.kind, description: describe(method), params: { ...method.params } };
}
