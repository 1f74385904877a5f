/**
 * Build stage: the model a site page runs in the browser (onnxruntime-web) to probe a user's photo.
 * It is the engine's own forward program (ort/programs.ts) at the model's input size, returning
 * every visualised layer: the graph is cut after the last of them, preprocessing ((rgb - mean) /
 * std) is its first op, the batch is dynamic. A second copy stores the weights as float16, each
 * cast back to float32 by a Cast node, so onnxruntime-web computes in float32 from a download half
 * the size; its deviation from the float32 copy is measured here on a dataset image and recorded.
 * Both copies are checked in onnxruntime-web against the build's engine before they are kept.
 */
import type { Engine, ImageBatch } from '../engine/engine.js';
import { buildForwardProgram } from '../engine/ort/programs.js';
import type { CnnModel } from '../model/graph.js';
import { graphAtSize } from '../model/sized.js';
import { toFloat16Weights } from '../model/onnx-fp16.js';
import { probeModelKey } from './keys.js';
import { probeModelFiles, probeModelRecordSchema } from './records.js';
import type { ProbeModel } from '../schema/atlas.js';
import type { AtlasStore } from './store.js';

/** Largest deviation of onnxruntime-web's float32 outputs from the engine's, relative to each output's largest |value|. */
const MAX_FP32_DEVIATION = 1e-4;

export type RunProgram = (bytes: Uint8Array, input: string, batch: ImageBatch, outputs: readonly string[]) => Promise<Float32Array[]>;

/** onnxruntime-web in Node (its wasm build): the runtime the site's page uses, loaded only here. */
export const runWithOrtWeb: RunProgram = async (bytes, input, batch, outputs) => {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  const session = await ort.InferenceSession.create(bytes, { executionProviders: ['wasm'] });
  try {
    const result = await session.run({ [input]: new ort.Tensor('float32', batch.data, [batch.n, 3, batch.height, batch.width]) });
    return outputs.map((name) => result[name].data as Float32Array);
  } finally {
    await session.release();
  }
};

function maxRelativeDeviation(a: Float32Array, b: Float32Array): number {
  let scale = 0;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    // A model with NaN weights has non-finite channels: both runs must agree on where they are.
    if (!Number.isFinite(a[i]) || !Number.isFinite(b[i])) {
      if (Number.isFinite(a[i]) !== Number.isFinite(b[i])) return Infinity;
      continue;
    }
    scale = Math.max(scale, Math.abs(a[i]));
    worst = Math.max(worst, Math.abs(a[i] - b[i]));
  }
  return scale > 0 ? worst / scale : worst;
}

export interface ProbeModelInput {
  model: CnnModel;
  engine: Engine;
  store: AtlasStore;
  /** The visualised layers (node names). */
  layers: readonly string[];
  /** An image at the model's input size to check the emitted graph on (a dataset photo). */
  sample: ImageBatch;
  run?: RunProgram;
}

export async function runProbeModel(input: ProbeModelInput): Promise<{ probeModel: ProbeModel; key: string; computed: boolean }> {
  const { model, store } = input;
  const key = probeModelKey({ weights: model.weightsDigest, preprocessing: model.preprocessing, layers: input.layers });
  const existing = await store.readComplete(key, probeModelRecordSchema, probeModelFiles);
  if (existing) return { probeModel: existing, key, computed: false };

  const sized = graphAtSize(model, model.preprocessing.inputSize);
  const program = buildForwardProgram(model, sized, input.layers);
  const half = toFloat16Weights(program.bytes);
  const run = input.run ?? runWithOrtWeb;
  const reference = await input.engine.forward(input.sample, program.nodes);
  const fp32 = await run(program.bytes, program.inputs.image, input.sample, program.outputs);
  const fp16 = await run(half, program.inputs.image, input.sample, program.outputs);
  let fp32Deviation = 0;
  let fp16Deviation = 0;
  program.nodes.forEach((node, i) => {
    fp32Deviation = Math.max(fp32Deviation, maxRelativeDeviation(reference.get(node)!.data, fp32[i]));
    fp16Deviation = Math.max(fp16Deviation, maxRelativeDeviation(fp32[i], fp16[i]));
  });
  if (!(fp32Deviation <= MAX_FP32_DEVIATION)) {
    throw new Error(`probe model: onnxruntime-web's outputs deviate from the engine's by ${fp32Deviation} of their largest value (at most ${MAX_FP32_DEVIATION} expected)`);
  }
  const probeModel: ProbeModel = {
    file: await store.writeFile(`files/${key}/probe.onnx`, program.bytes),
    bytes: program.bytes.byteLength,
    fp16: { file: await store.writeFile(`files/${key}/probe-fp16.onnx`, half), bytes: half.byteLength, maxRelativeError: fp16Deviation },
    outputs: program.nodes.map((layer, i) => ({ layer, output: program.outputs[i] })),
    input: program.inputs.image,
    inputSize: model.preprocessing.inputSize,
    resize: model.preprocessing.resize,
  };
  await store.writeRecord(key, probeModel);
  return { probeModel, key, computed: true };
}
