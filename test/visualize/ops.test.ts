import { describe, expect, it } from 'vitest';
import { createAdam } from '../../pipeline/visualize/adam.js';
import { allFinite } from '../../pipeline/visualize/loop.js';
import { boxBlur, clip01, clippedFraction, cubicWeights, reflect101, resizeBicubic } from '../../pipeline/visualize/transforms.js';
import {
  IMAGENET_SPACE,
  gradientToParams,
  imagesToParams,
  paramsToImages,
  pixelSpace,
} from '../../pipeline/visualize/parameterization.js';

function expectClose(actual: ArrayLike<number>, expected: number[], tolerance: number): void {
  expect(actual.length).toBe(expected.length);
  expected.forEach((value, i) => expect(Math.abs(actual[i] - value), `index ${i}: ${actual[i]} vs ${value}`).toBeLessThan(tolerance));
}

describe('Adam', () => {
  it('matches torch.optim.Adam(lr 0.1, weight_decay 0.1) step by step', () => {
    // Expected values from torch 1.13: p = [1, -2, 0.5], grads below, three steps.
    // Step 1 by hand for p0: g = 0.5 + 0.1 * 1 = 0.6, m = 0.06, v = 0.00036,
    // update = 0.1 / 0.1 * 0.06 / (sqrt(0.00036) / sqrt(0.001) + 1e-8) = 0.1 -> 0.9.
    const params = new Float32Array([1, -2, 0.5]);
    const adam = createAdam(3, { learningRate: 0.1, weightDecay: 0.1 });
    const grads = [
      [0.5, 0.0, -3.0],
      [-0.2, 1e-3, 2.0],
      [0.7, 0.0, 0.0],
    ];
    const expected = [
      [0.9000000357627869, -1.899999976158142, 0.6000000238418579],
      [0.8475190997123718, -1.800187349319458, 0.6123096942901611],
      [0.7721824645996094, -1.700644850730896, 0.6207358837127686],
    ];
    grads.forEach((g, step) => {
      adam.step(params, new Float32Array(g));
      expectClose(params, expected[step], 2e-7);
    });
    expect(adam.steps).toBe(3);
  });

  it('leaves frozen images untouched', () => {
    const params = new Float32Array([1, 1, 1, 1]);
    const adam = createAdam(4, { learningRate: 0.1, weightDecay: 0 });
    adam.step(params, new Float32Array([1, 1, 1, 1]), (image) => image === 1, 2);
    expectClose(params, [0.9, 0.9, 1, 1], 1e-6);
  });

  it('with a gradient scale, takes the very steps it takes from gradientToParams (signed zeros, frozen images and all)', () => {
    const shape = { n: 3, height: 5, width: 7 };
    const size = 3 * shape.n * shape.height * shape.width;
    let seed = 5;
    const random = () => (seed = (seed * 16807) % 2147483647) / 2147483647 - 0.5;
    const start = Float32Array.from({ length: size }, random);
    start[3] = 0;
    const [separate, fused] = [start.slice(), start.slice()];
    const options = { learningRate: 0.05, weightDecay: 1e-3 };
    const [a, b] = [createAdam(size, options), createAdam(size, options)];
    const frozen = (image: number) => image === 1;
    const scale = { plane: shape.height * shape.width, factors: IMAGENET_SPACE.std.map((s) => -1 * s) };
    for (let step = 0; step < 4; step++) {
      const gradient = Float32Array.from({ length: size }, () => random() * 1e-3);
      gradient[3] = -0;
      gradient[10] = 1e-45;
      a.step(separate, gradientToParams(gradient, shape, IMAGENET_SPACE, -1), frozen, size / shape.n);
      b.step(fused, gradient, frozen, size / shape.n, scale);
    }
    expect(Array.from(fused)).toEqual(Array.from(separate));
    expect(fused).not.toEqual(start);
  });
});

describe('bicubic upscale (cv2.INTER_CUBIC)', () => {
  it('has OpenCV kernel weights (A = -0.75) that sum to one', () => {
    expectClose(cubicWeights(0), [0, 1, 0, 0], 1e-12);
    // By hand: t = 0.75 -> [-0.03515625, 0.26171875, 0.87890625, -0.10546875].
    expectClose(cubicWeights(0.75), [-0.03515625, 0.26171875, 0.87890625, -0.10546875], 1e-12);
    expectClose(cubicWeights(0.5), [-0.09375, 0.59375, 0.59375, -0.09375], 1e-12);
  });

  it('matches known values on a 2x3 -> 4x5 image', () => {
    // Row 0, column 2 by hand: source y = (0 + 0.5) * 0.5 - 0.5 = -0.25 -> taps rows (-2..1, clamped: 0,0,0,1)
    // with weights at t = 0.75; source x = 2.5 * 0.6 - 0.5 = 1 exactly -> column 1 only.
    // 1.10546875 * src[0][1] - 0.10546875 * src[1][1] = 1.10546875. Other values: torch bicubic,
    // align_corners=False, which check_ops.py shows equals cv2.resize INTER_CUBIC.
    const src = new Float32Array([0, 1, 0.25, 0.5, 0, 1]);
    const out = resizeBicubic({ data: src, planes: 1, height: 2, width: 3 }, 4, 5);
    expect([out.height, out.width, out.planes]).toEqual([4, 5, 1]);
    expectClose(
      out.data,
      [
        -0.16392183303833008, 0.4639376103878021, 1.10546875, 0.616902232170105, 0.08117976039648056, 0.04990629479289055,
        0.39487504959106445, 0.7734375, 0.604617178440094, 0.38598448038101196, 0.4020937979221344, 0.2811250686645508,
        0.22656255960464478, 0.584382951259613, 0.8880157470703125, 0.6159218549728394, 0.21206256747245789,
        -0.10546868294477463, 0.5720978379249573, 1.192820429801941,
      ],
      1e-6,
    );
  });

  it('keeps constants and resizes each plane on its own', () => {
    const constant = resizeBicubic({ data: new Float32Array(2 * 56 * 56).fill(0.3), planes: 2, height: 56, width: 56 }, 67, 67);
    for (const v of constant.data) expect(v).toBeCloseTo(0.3, 6);
    const two = new Float32Array(2 * 7 * 9).map((_, i) => Math.sin(i * 1.7));
    const both = resizeBicubic({ data: two, planes: 2, height: 7, width: 9 }, 8, 10);
    const second = resizeBicubic({ data: two.slice(63), planes: 1, height: 7, width: 9 }, 8, 10);
    expect(Array.from(both.data.slice(80))).toEqual(Array.from(second.data));
  });
});

describe('box blur (cv2.blur, BORDER_REFLECT_101)', () => {
  it('reflects without repeating the edge', () => {
    expect([-2, -1, 0, 4, 5, 6].map((i) => reflect101(i, 5))).toEqual([2, 1, 0, 4, 3, 2]);
    expect(reflect101(-3, 1)).toBe(0);
  });

  it('matches a hand computation on one row', () => {
    // Height 1: every row reflects to itself; x = 0 -> (1 + 0 + 1) / 3, x = 6 -> (5 + 6 + 5) / 3.
    const out = boxBlur({ data: new Float32Array([0, 1, 2, 3, 4, 5, 6]), planes: 1, height: 1, width: 7 }, 3);
    expectClose(out.data, [2 / 3, 1, 2, 3, 4, 5, 16 / 3], 1e-6);
  });

  it('matches known 5x5 values (torch reflect pad + avg_pool, = cv2.blur)', () => {
    const src = new Float32Array(25).map((_, i) => i ** 1.5 / 10);
    const out = boxBlur({ data: src, planes: 1, height: 5, width: 5 }, 5);
    expectClose(
      out.data,
      [
        2.1533613204956055, 2.238112688064575, 2.4917397499084473, 2.7260961532592773, 2.804687261581421, 2.7075748443603516,
        2.796213388442993, 3.0615155696868896, 3.307965040206909, 3.390582323074341, 4.3502726554870605, 4.450942516326904,
        4.752398490905762, 5.036505222320557, 5.131649017333984, 5.624766826629639, 5.741064548492432, 6.08979606628418,
        6.426209926605225, 6.538410663604736, 6.065216064453125, 6.186296463012695, 6.549417495727539, 6.901040077209473,
        7.018293380737305,
      ],
      2e-6,
    );
  });
});

describe('clipping and the parameterisation', () => {
  it('clips to [0, 1] and counts what it changed', () => {
    const data = new Float32Array([-0.5, 0, 0.5, 1, 1.5]);
    expect(Array.from(clip01(data))).toEqual([0, 0, 0.5, 1, 1]);
    expect(clippedFraction(data)).toBeCloseTo(0.4, 12);
    expect(Array.from(data)).toEqual([-0.5, 0, 0.5, 1, 1.5]); // input untouched
  });

  it('round-trips images through the ImageNet space and applies the chain rule', () => {
    const shape = { n: 2, height: 2, width: 2 };
    const images = new Float32Array(24).map((_, i) => (i * 37) % 11 / 10);
    const x = imagesToParams(images, shape, IMAGENET_SPACE);
    expect(x[0]).toBeCloseTo((images[0] - 0.485) / 0.229, 5);
    expect(x[20]).toBeCloseTo((images[20] - 0.406) / 0.225, 5); // image 1, blue plane
    expectClose(paramsToImages(x, shape, IMAGENET_SPACE), Array.from(images), 1e-6);
    const g = gradientToParams(new Float32Array(24).fill(1), shape, IMAGENET_SPACE);
    expect([g[0], g[4], g[8], g[12], g[16], g[20]].map((v) => Number(v.toFixed(3)))).toEqual([0.229, 0.224, 0.225, 0.229, 0.224, 0.225]);
  });

  it("uses the model's own space when asked, and says what it needs", () => {
    expect(pixelSpace('model', { mean: [0, 0, 0], std: [1, 1, 1] })).toEqual({ mean: [0, 0, 0], std: [1, 1, 1] });
    expect(() => pixelSpace('model')).toThrow(
      "method parameter space: expected the model's preprocessing (mean and std) when space is 'model', received none. " +
        "Pass the model's preprocessing to visualizeBatch, or use space 'imagenet'.",
    );
  });
});

describe('allFinite', () => {
  it('finds one NaN or infinity anywhere in the range, and only in the range', () => {
    for (const length of [1, 3, 4, 5, 17]) {
      const data = Float32Array.from({ length: length + 2 }, (_, i) => (i % 2 ? -0 : i * 1e30));
      expect(allFinite(data, 1, length + 1)).toBe(true);
      for (const bad of [Number.NaN, Infinity, -Infinity]) {
        for (let at = 1; at <= length; at++) {
          const copy = data.slice();
          copy[at] = bad;
          expect(allFinite(copy, 1, length + 1), `${bad} at ${at} of ${length}`).toBe(false);
        }
        const outside = data.slice();
        outside[0] = bad;
        outside[length + 1] = bad;
        expect(allFinite(outside, 1, length + 1)).toBe(true);
      }
    }
    expect(allFinite(new Float32Array([3.4e38, 3.4e38]), 0, 2)).toBe(true);
    expect(allFinite(new Float32Array(0), 0, 0)).toBe(true);
  });
});
