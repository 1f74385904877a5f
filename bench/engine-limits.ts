/**
 * `npx tsx bench/engine-limits.ts` (issue 21): why the default atlas's gradient programs stay as they are on
 * onnxruntime 1.30's CPU provider. Two measurements in ONNX ops alone, each pair back to back in one process
 * (best of 5 runs after a warm-up, 2 threads), so their ratios hold on a shared machine:
 *
 * - **The max pool's gradient.** darknet-tiny's 2x2 pools need their argmax for the backward pass. MaxPool
 *   with its Indices output against MaxPool alone; MaxPool + MaxUnpool (what the programs emit) against the
 *   argmax found without Indices (SpaceToDepth, ArgMax over the window, Equal, Where, DepthToSpace).
 * - **Winograd F(2x2, 3x3)** for darknet-tiny's 3x3 convs: 2.25x fewer multiplications, but in ONNX ops
 *   its transforms are separate passes. Timed here: only its two MatMuls (the 16 batched tile products and
 *   the output transform's 4x16 product), with no input transform and no layout change, against the
 *   direct Conv. Where even that is not faster, a Winograd made of ONNX ops cannot be.
 */
import * as ort from 'onnxruntime-node';
import { OnnxGraphBuilder } from '../pipeline/engine/ort/onnx-builder.js';

const BATCH = 16;
const THREADS = 2;

async function session(builder: OnnxGraphBuilder): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(builder.encode('bench'), { intraOpNumThreads: THREADS });
}

/** Best of 5 runs after one warm-up, in ms. */
async function bestMs(s: ort.InferenceSession, feeds: Record<string, ort.Tensor>): Promise<number> {
  await s.run(feeds);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const began = performance.now();
    await s.run(feeds);
    best = Math.min(best, performance.now() - began);
  }
  return best;
}

function random(length: number): Float32Array {
  return new Float32Array(length).map(() => Math.random() - 0.5);
}

async function poolGradient(channels: number, side: number): Promise<void> {
  const [n, h] = [BATCH, side / 2];
  const pool = { kernel_shape: [2, 2], strides: [2, 2] };
  const plain = new OnnxGraphBuilder();
  plain.output(plain.op('MaxPool', [plain.input('x', [n, channels, side, side])], 'y', pool), [n, channels, h, h]);
  const indexed = new OnnxGraphBuilder();
  {
    const [y, indices] = indexed.node('MaxPool', [indexed.input('x', [n, channels, side, side])], ['y', 'indices'], pool);
    indexed.output(y, [n, channels, h, h]);
    indexed.output(indices, [n, channels, h, h], 'int64');
  }
  const unpool = new OnnxGraphBuilder();
  {
    const x = unpool.input('x', [n, channels, side, side]);
    const dy = unpool.input('dy', [n, channels, h, h]);
    const [y, indices] = unpool.node('MaxPool', [x], ['y', 'indices'], pool);
    const dx = unpool.op('MaxUnpool', [dy, indices, unpool.int64Tensor('shape', [n, channels, side, side])], 'dx', pool);
    unpool.output(y, [n, channels, h, h]);
    unpool.output(dx, [n, channels, side, side]);
  }
  const argmax = new OnnxGraphBuilder();
  {
    const x = argmax.input('x', [n, channels, side, side]);
    const dy = argmax.input('dy', [n, channels, h, h]);
    const y = argmax.op('MaxPool', [x], 'y', pool);
    // SpaceToDepth puts the window position outermost: (n, 4, c, h, w), positions in row-major order, so
    // ArgMax's first maximum is MaxPool's.
    const windows = argmax.op('Reshape', [argmax.op('SpaceToDepth', [x], 's2d', { blocksize: 2 }), argmax.int64Tensor('w5', [n, 4, channels, h, h])], 'windows');
    const first = argmax.op('ArgMax', [windows], 'first', { axis: 1, keepdims: 1 });
    const mask = argmax.op('Equal', [first, argmax.int64Tensor('positions', [0, 1, 2, 3], [1, 4, 1, 1, 1])], 'mask');
    const dy5 = argmax.op('Reshape', [dy, argmax.int64Tensor('d5', [n, 1, channels, h, h])], 'dy5');
    const routed = argmax.op('Where', [mask, dy5, argmax.scalar('zero', 0)], 'routed');
    const dx = argmax.op('DepthToSpace', [argmax.op('Reshape', [routed, argmax.int64Tensor('r4', [n, 4 * channels, h, h])], 'r4d')], 'dx', { blocksize: 2, mode: 'DCR' });
    argmax.output(y, [n, channels, h, h]);
    argmax.output(dx, [n, channels, side, side]);
  }
  const x = new ort.Tensor('float32', random(n * channels * side * side), [n, channels, side, side]);
  const dy = new ort.Tensor('float32', random(n * channels * h * h), [n, channels, h, h]);
  const [a, b, c, d] = [await session(plain), await session(indexed), await session(unpool), await session(argmax)];
  const ms = [await bestMs(a, { x }), await bestMs(b, { x }), await bestMs(c, { x, dy }), await bestMs(d, { x, dy })];
  console.log(
    `| ${channels} x ${side}^2 | ${ms[0].toFixed(1)} | ${ms[1].toFixed(1)} | ${ms[2].toFixed(1)} | ${ms[3].toFixed(1)} |`,
  );
}

async function winograd(inputs: number, outputs: number, side: number): Promise<void> {
  const tiles = (side / 2) ** 2 * BATCH;
  const conv = new OnnxGraphBuilder();
  {
    const x = conv.input('x', [BATCH, inputs, side, side]);
    const w = conv.floatTensor('w', random(outputs * inputs * 9), [outputs, inputs, 3, 3]);
    conv.output(conv.op('Conv', [x, w], 'y', { kernel_shape: [3, 3], pads: [1, 1, 1, 1] }), [BATCH, outputs, side, side]);
  }
  const products = new OnnxGraphBuilder();
  {
    const v = products.input('v', [16, tiles, inputs]);
    const m = products.op('MatMul', [v, products.floatTensor('u', random(16 * inputs * outputs), [16, inputs, outputs])], 'm');
    const flat = products.op('Reshape', [m, products.int64Tensor('flat', [16, tiles * outputs])], 'm_flat');
    products.output(products.op('MatMul', [products.floatTensor('a', random(64), [4, 16]), flat], 'y'), [4, tiles * outputs]);
  }
  const [direct, tiled] = [await session(conv), await session(products)];
  const ms = [
    await bestMs(direct, { x: new ort.Tensor('float32', random(BATCH * inputs * side * side), [BATCH, inputs, side, side]) }),
    await bestMs(tiled, { v: new ort.Tensor('float32', random(16 * tiles * inputs), [16, tiles, inputs]) }),
  ];
  console.log(`| ${inputs} -> ${outputs} at ${side}^2 | ${ms[0].toFixed(1)} | ${ms[1].toFixed(1)} |`);
}

console.log(`ms per run, batch ${BATCH}, ${THREADS} threads, onnxruntime ${ort.env.versions.common}\n`);
console.log('| pool input | MaxPool | MaxPool with Indices | MaxPool + MaxUnpool | argmax without Indices |\n|---|---|---|---|---|');
for (const [channels, side] of [[16, 224], [32, 112], [128, 56]] as const) await poolGradient(channels, side);
console.log('\n| darknet-tiny 3x3 conv | direct Conv | Winograd F(2x2,3x3): its two MatMuls only |\n|---|---|---|');
// The forward direction's convs (few inputs, many outputs) and the backward pass's (the transposes).
for (const [inputs, outputs, side] of [[16, 128, 56], [32, 256, 28], [64, 512, 14], [128, 16, 56], [256, 32, 28], [512, 64, 14]] as const) {
  await winograd(inputs, outputs, side);
}
