/**
 * Which engine cases cannot run on the tfjs WebAssembly backend: its heap is 4 GiB (32-bit
 * addresses, docs/design.md section 3), and a step that outgrows it failed with "memory access out
 * of bounds" and ended the bench there. The bench skips such a case
 * before running it, from an estimate made of the model's activation sizes.
 *
 * The rule: a step needs WASM_BYTES_PER_ACTIVATION_BYTE (5) times the float32 forward activations
 * of every node up to the layer, for the whole batch, and may use WASM_STEP_SHARE (half) of the heap.
 * tf.valueAndGrad keeps every forward activation for the backward pass, the backward pass makes a
 * gradient of each, and the conv's input gradient (engine/tfjs/conv.ts) makes zero-inserted, padded
 * copies of dy. Heap after one step in a fresh process, tfjs 4.22 wasm, per byte of activations:
 * darknet-tiny 224 px x 8 3.2 (0.86 GiB), VGG16-BN to 42 at 112 px x 8 3.5 (1.09 GiB),
 * EfficientNet-B0 to features.8 at 224 px x 8 3.5 (2.25 GiB), ResNet-50 to layer4 at 224 px x 8 4.6
 * (3.61 GiB; weights add a fixed part, larger in proportion at batch 1). Half the heap, because the
 * bench keeps every engine (and its weights) until the end, the heap never shrinks and freed blocks
 * fragment it: ResNet-50 224 px x 8 fits a fresh heap but crashed after the VGG16-BN cases.
 * The rule skips the batches of 8 at 224 px of VGG16-BN (6.3 GiB), ResNet-50 (3.9 GiB) and
 * EfficientNet-B0 (3.2 GiB; it runs in a fresh process, not reliably after the other cases) and
 * runs darknet-tiny's (1.4 GiB) and every batch at 112 px or of one image.
 */
import type { CnnModel } from '../pipeline/model/graph.js';
import { ancestors, findNode } from '../pipeline/model/layers.js';
import { elementsOf } from '../pipeline/model/shapes.js';
import { graphAtSize } from '../pipeline/model/sized.js';

/** The wasm heap's hard limit. */
export const WASM_HEAP_BYTES = 4 * 2 ** 30;
/** Heap bytes a step needs per byte of forward activations (see the file comment). */
export const WASM_BYTES_PER_ACTIVATION_BYTE = 5;
/** The part of the heap one case may use (see the file comment). */
export const WASM_STEP_SHARE = 0.5;

/** float32 bytes of the forward activations of `layer` and every node it depends on, for a batch of square images. */
export function activationBytes(model: CnnModel, layer: string, size: number, batch: number): number {
  const { graph, shapes } = graphAtSize(model, [size, size]);
  let elements = 0;
  for (const name of ancestors(graph, findNode(graph, layer).name)) {
    const shape = shapes.get(name);
    if (shape?.batched) elements += elementsOf(shape);
  }
  return 4 * batch * elements;
}

const gib = (bytes: number): string => `${(bytes / 2 ** 30).toFixed(2)} GiB`;

/**
 * Why the case cannot run on `device` (EngineInfo.device), or undefined when it can: only the tfjs
 * wasm backend has the 4 GiB heap. Skip when 5 x activations > half of 4 GiB.
 */
export function wasmHeapSkip(device: string, model: CnnModel, layer: string, size: number, batch: number): string | undefined {
  if (!device.includes('wasm')) return undefined;
  const activations = activationBytes(model, layer, size, batch);
  const needed = WASM_BYTES_PER_ACTIVATION_BYTE * activations;
  const budget = WASM_STEP_SHARE * WASM_HEAP_BYTES;
  if (needed <= budget) return undefined;
  return (
    `skipped on tfjs wasm: needs about ${gib(needed)} (${WASM_BYTES_PER_ACTIVATION_BYTE} x ${gib(activations)} of forward activations), ` +
    `over the ${gib(budget)} a case may use of the ${gib(WASM_HEAP_BYTES)} wasm heap (bench/wasm-heap.ts)`
  );
}
