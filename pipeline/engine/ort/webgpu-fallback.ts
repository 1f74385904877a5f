/**
 * Nodes the WebGPU provider claims but cannot run, so the session must keep them on the CPU.
 *
 * ONNX Runtime places a node on a provider when the provider registers a kernel for its op type,
 * opset and types; it does not look at which outputs are used. The WebGPU provider registers
 * MaxPool with its `Indices` output (opsets 8-12) but its kernel returns "The Indices output is
 * not supported yet" at the first run (onnxruntime/core/providers/webgpu/nn/pool.cc). The engine's
 * programs for a GPU provider have no such node (programs.ts, GPU_EMISSION: the max-pool gradient
 * compares window offsets instead); a program emitted the CPU's way, with indices, would fail
 * mid-build, so its pools go to the CPU through the provider's `forceCpuNodeNames` option (their
 * consumers, MaxUnpool, have no WebGPU kernel and run on the CPU anyway). docs/design.md section 13
 * has the whole WebGPU op check.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

/** Names of the nodes of an encoded model that must run on the CPU under the WebGPU provider. */
export function webgpuCpuNodes(model: Uint8Array): string[] {
  // Decoding keeps initializer bytes as views of `model`: ~50 ms for a 117 MB VGG16-BN program.
  const graph = onnx.ModelProto.decode(model).graph;
  return (graph?.node ?? []).filter((node) => node.opType === 'MaxPool' && (node.output ?? []).filter(Boolean).length > 1).map((node) => node.name ?? '');
}
