/**
 * An ONNX model -> the model graph. The file is decoded once; its nodes are converted for each
 * image size asked for (onnx-convert.ts), because an export's shape arithmetic and its slice bounds
 * depend on the size, and the ascent changes the size at every scale. Node names are the ONNX
 * names; torch module paths (`layer4.1`) are aliases of the node that outputs each module.
 */
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import pkg from 'onnx-proto';
import { userError } from '../errors.js';
import type { CnnModel, Graph, Pair, ReshapeDim } from './graph.js';
import { convertNodes } from './onnx-convert.js';
import { SUPPORTED_ONNX_OPS } from './onnx-ops.js';
import { addModuleAliases } from './onnx-scopes.js';
import { decodeTensor, toNumber, type OnnxConstant } from './onnx-values.js';
import { modelFromGraph, type ModelOverrides } from './from-file.js';

export { SUPPORTED_ONNX_OPS };

const { onnx } = pkg;

const DEFAULT_SIZE: Pair = [224, 224];

export interface OnnxGraph {
  /** The graph at the size asked for (the declared input size by default). */
  graph: Graph;
  declaredInputSize?: Pair;
  /** The graph at any other size. */
  graphFor: (size: Pair) => Graph;
}

/** Decodes an ONNX model (bytes) into the graph; `file` names it in errors. */
export function onnxGraph(bytes: Uint8Array, file: string, options: { inputSize?: Pair } = {}): OnnxGraph {
  let model: InstanceType<typeof onnx.ModelProto>;
  try {
    model = onnx.ModelProto.decode(bytes);
  } catch (error) {
    throw userError({ where: file, expected: 'an ONNX model (protobuf ModelProto)', received: error instanceof Error ? error.message : String(error) }, error);
  }
  const g = model.graph;
  if (!g) throw userError({ where: file, expected: 'an ONNX model with a graph', received: 'none' });
  const initializers = new Map<string, OnnxConstant>();
  for (const init of g.initializer ?? []) initializers.set(init.name ?? '', decodeTensor(init, `${file} initializer ${init.name}`));
  const inputs = (g.input ?? []).filter((i) => !initializers.has(i.name ?? ''));
  if (inputs.length !== 1) throw userError({ where: file, expected: 'exactly one image input', received: `${inputs.length} inputs (${inputs.map((i) => i.name).join(', ')})` });
  const dims = (inputs[0].type?.tensorType?.shape?.dim ?? []).map((d) => (d.dimParam || d.dimValue == null ? undefined : toNumber(d.dimValue)));
  if (dims.length !== 4 || dims[1] !== 3) {
    throw userError({ where: `${file} input ${inputs[0].name}`, expected: 'an image input N x 3 x H x W (NCHW, RGB)', received: `[${dims.map((d) => d ?? '?').join(', ')}]` });
  }
  const outputs = g.output ?? [];
  if (outputs.length !== 1) throw userError({ where: file, expected: 'exactly one output', received: `${outputs.length}` });
  const declaredInputSize: Pair | undefined = dims[2] && dims[3] ? [dims[2], dims[3]] : undefined;
  const opset = toNumber((model.opsetImport ?? []).find((o) => !o.domain || o.domain === 'ai.onnx')?.version ?? 13);
  const reshapeTargets = new Map<number, ReshapeDim[]>();
  const derived = new Map<string, Float32Array>();
  const convert = (size: Pair, record: boolean, lenient: boolean): Graph => {
    const converted = convertNodes(g.node ?? [], outputs[0].name ?? '', { file, size, opset, inputName: inputs[0].name ?? '', initializers, reshapeTargets, record, derived, lenient });
    addModuleAliases(converted.nodes, converted.output);
    // The model output is also addressed by its ONNX tensor name (often "output" or "logits").
    const outputNode = converted.nodes.find((n) => n.name === converted.output);
    const outputName = outputs[0].name ?? '';
    if (outputNode && outputName && !converted.nodes.some((n) => n.name === outputName || n.aliases?.includes(outputName))) outputNode.aliases = [...(outputNode.aliases ?? []), outputName];
    return { inputChannels: 3, nodes: converted.nodes, output: converted.output, ...(converted.invalid.size > 0 ? { invalid: converted.invalid } : {}) };
  };
  const same = (a: Pair, b: Pair | undefined) => b !== undefined && a[0] === b[0] && a[1] === b[1];
  // Reshape targets baked in by the export are generalised at the size it was traced at, where
  // every node must convert.
  const exportGraph = declaredInputSize ? convert(declaredInputSize, true, false) : undefined;
  const size = options.inputSize ?? declaredInputSize ?? DEFAULT_SIZE;
  const graph = exportGraph && same(size, declaredInputSize) ? exportGraph : convert(size, false, false);
  const graphFor = (at: Pair): Graph => (same(at, size) ? graph : exportGraph && same(at, declaredInputSize) ? exportGraph : convert(at, false, true));
  return { graph, declaredInputSize, graphFor };
}

/** An .onnx file as a CnnModel: ImageNet mean/std at the input's static size (224 if dynamic) unless overridden. */
export async function modelFromOnnx(path: string, overrides: ModelOverrides = {}): Promise<CnnModel> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw userError({ where: path, expected: 'a readable .onnx file', received: (error as NodeJS.ErrnoException).code ?? String(error) }, error);
  }
  const inputSize = overrides.preprocessing?.inputSize;
  const { graph, declaredInputSize, graphFor } = onnxGraph(bytes, path, { inputSize });
  return modelFromGraph(graph, [path], { format: 'onnx', path }, inputSize ?? declaredInputSize, overrides, { name: basename(path).replace(/\.onnx$/i, ''), graphFor });
}
