/**
 * Where ONNX Runtime ran each node of a program. A provider silently leaves the nodes it has no
 * kernel for to the CPU provider and inserts host <-> device copies around them, which can cost more
 * than the GPU saves; its profile (one JSON event per node run, with the provider, the op type and
 * the input and output shapes) says which nodes ran where. The engine profiles the first run of each
 * program only when asked (`onPlacement`; `--verbose`, the bench), since profiling costs time.
 *
 * FLOPs are estimated from the shapes: 2 x multiply-adds for Conv, ConvTranspose, MatMul and Gemm,
 * one per output value for everything else: enough to say what share of the work a provider ran.
 * The kernel's shape comes from the program that ran (`convKernels`), by node name: the WebGPU
 * provider's channels-last Conv lists only its input and bias in the profile (its weights were
 * repacked at load), and its layout pass renames nodes `<name>_token_<n>`.
 */
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import onnxProto from 'onnx-proto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { PlacementReport } from '../engine.js';

/** One entry of ONNX Runtime's profile (Chrome trace format); node runs have cat "Node". */
export interface ProfileEvent {
  cat?: string;
  name?: string;
  args?: {
    op_name?: string;
    provider?: string;
    input_type_shape?: Array<Record<string, number[]>>;
    output_type_shape?: Array<Record<string, number[]>>;
    output_size?: string;
  };
}

const COPY_OPS = new Set(['MemcpyFromHost', 'MemcpyToHost']);

/** "CPUExecutionProvider" -> "cpu", "WebGpuExecutionProvider" -> "webgpu", "CUDAExecutionProvider" -> "cuda". */
export function providerKey(name: string): string {
  const short = name.replace(/ExecutionProvider$/, '').toLowerCase();
  return short || 'unknown';
}

const shapeOf = (entry: Record<string, number[]> | undefined): number[] => (entry ? (Object.values(entry)[0] ?? []) : []);
const count = (shape: number[]): number => shape.reduce((a, b) => a * b, 1);

/** Estimated floating-point operations of one node run (see the file comment). */
export function nodeFlops(op: string, inputs: number[][], outputs: number[][]): number {
  const [x = [], w = []] = inputs;
  const y = outputs[0] ?? [];
  switch (op) {
    case 'Conv':
    case 'FusedConv':
      // Each output value: (C_in / group) x kh x kw multiply-adds; the kernel is OIHW.
      return 2 * count(y) * count(w.slice(1));
    case 'ConvTranspose':
      // Each input value is spread over (C_out / group) x kh x kw outputs; the kernel is (C_in, C_out / group, kh, kw).
      return 2 * count(x) * count(w.slice(1));
    case 'MatMul':
    case 'Gemm':
    case 'FusedMatMul':
      return 2 * count(y) * (x.at(-1) ?? 1);
    default:
      return count(y);
  }
}

const { onnx } = onnxProto;
const KERNEL_OPS = new Set(['Conv', 'FusedConv', 'ConvTranspose']);

/** Kernel shapes (OIHW, or IOHW for ConvTranspose) of a program's convolutions, by node name. */
export function convKernels(program: Uint8Array): Map<string, number[]> {
  const { graph } = onnx.ModelProto.decode(program);
  const dims = new Map((graph?.initializer ?? []).map((t) => [t.name ?? '', (t.dims ?? []).map(Number)]));
  const kernels = new Map<string, number[]>();
  for (const node of graph?.node ?? []) {
    const kernel = dims.get(node.input?.[1] ?? '');
    if (KERNEL_OPS.has(node.opType ?? '') && node.name && kernel) kernels.set(node.name, kernel);
  }
  return kernels;
}

/** The program's node name of a profile event: without `_kernel_time` and the layout pass's `_token_<n>`. */
const nodeNameOf = (event: string): string => event.replace(/_kernel_time$/, '').replace(/_token_\d+$/, '');

/** The placement of one program from the node events of its profiled run(s); `kernels` from convKernels. */
export function placementFromProfile(graph: string, events: readonly ProfileEvent[], kernels: ReadonlyMap<string, number[]> = new Map()): PlacementReport {
  const providers: PlacementReport['providers'] = {};
  const copies = { nodes: 0, bytes: 0 };
  const cpuOps: Record<string, number> = {};
  const seen = new Set<string>();
  const nodes = events.filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time') && e.args?.op_name);
  for (const event of nodes) {
    // Two runs in flight while profiling (batches in parallel) log a node twice: count it once.
    if (seen.has(event.name!)) continue;
    seen.add(event.name!);
    const args = event.args!;
    const op = args.op_name!;
    if (COPY_OPS.has(op)) {
      copies.nodes++;
      copies.bytes += Number(args.output_size ?? 0);
      continue;
    }
    const provider = providerKey(args.provider ?? '');
    const entry = (providers[provider] ??= { nodes: 0, flops: 0 });
    entry.nodes++;
    const inputs = (args.input_type_shape ?? []).map(shapeOf);
    const kernel = KERNEL_OPS.has(op) ? kernels.get(nodeNameOf(event.name!)) : undefined;
    if (kernel) inputs[1] = kernel;
    entry.flops += nodeFlops(op, inputs, (args.output_type_shape ?? []).map(shapeOf));
    if (provider === 'cpu') cpuOps[op] = (cpuOps[op] ?? 0) + 1;
  }
  const total = Object.values(providers).reduce((sum, p) => sum + p.nodes, 0);
  // With the CPU provider alone, "left on the CPU" says nothing.
  const gpu = Object.keys(providers).some((p) => p !== 'cpu');
  return { graph, nodes: total, providers, copies, cpuOps: gpu ? cpuOps : {} };
}

/** Bytes as MB (3 decimals under 1 MB), or as bytes under 10 kB: an ascent step moves a few bytes. */
export const formatBytes = (bytes: number): string => (bytes < 1e4 ? `${bytes} bytes` : `${(bytes / 1e6).toFixed(bytes < 1e6 ? 3 : 1)} MB`);

const percent = (part: number, whole: number): string => `${whole > 0 ? ((100 * part) / whole).toFixed(1) : '0.0'} %`;

/**
 * One line, e.g. "placement gradient|features.42|64x64: 200 nodes, webgpu 200 (100.0 % of 4.51 GFLOP);
 * no host<->device copies; inputs 0.098 MB to the device, outputs 0.098 MB back per run": the copies
 * inside the program (Memcpy nodes of the profile), then on a GPU what crosses at its edges: per run,
 * or for an ascent program (state on the device) per step and once per scale.
 */
export function formatPlacement(report: PlacementReport): string {
  const flops = Object.values(report.providers).reduce((sum, p) => sum + p.flops, 0);
  const parts = Object.entries(report.providers)
    .sort(([a], [b]) => (a === 'cpu' ? 1 : b === 'cpu' ? -1 : a.localeCompare(b)))
    .map(([provider, p]) => {
      const ops = provider === 'cpu' && Object.keys(report.cpuOps).length ? `, ${Object.entries(report.cpuOps).map(([op, n]) => `${op} x${n}`).join(', ')}` : '';
      return `${provider} ${p.nodes} (${percent(p.flops, flops)} of ${(flops / 1e9).toFixed(2)} GFLOP${ops})`;
    });
  const copies = report.copies.nodes ? `; ${report.copies.nodes} host<->device copies, ${(report.copies.bytes / 1e6).toFixed(1)} MB per run` : '; no host<->device copies';
  const { transfers: moved } = report;
  let transfers = '';
  if (moved?.scale) {
    transfers = `; per step: inputs ${formatBytes(moved.toDevice)} to the device, outputs ${formatBytes(moved.toHost)} back; per scale: ${formatBytes(moved.scale.toDevice)} in at its start, ${formatBytes(moved.scale.toHost)} back at its end`;
  } else if (moved) {
    transfers = `; inputs ${formatBytes(moved.toDevice)} to the device, outputs ${formatBytes(moved.toHost)} back per run`;
  }
  return `placement ${report.graph}: ${report.nodes} nodes, ${parts.join(', ')}${copies}${transfers}`;
}

/** A few words for a table cell: "webgpu 141/149 nodes, 99.6 % of FLOPs, 16 copies", or "cpu 149/149 nodes". */
export function placementSummary(report: PlacementReport): string {
  const flops = Object.values(report.providers).reduce((sum, p) => sum + p.flops, 0);
  const gpu = Object.entries(report.providers).find(([provider]) => provider !== 'cpu');
  if (!gpu) return `cpu ${report.nodes}/${report.nodes} nodes`;
  const [provider, p] = gpu;
  return `${provider} ${p.nodes}/${report.nodes} nodes, ${percent(p.flops, flops)} of FLOPs, ${report.copies.nodes} copies`;
}

/** A profile in the making: session options that write it into a fresh temporary folder. */
export interface PendingProfile {
  options: { enableProfiling: true; profileFilePrefix: string };
  folder: string;
  /** The program's convolution kernels (convKernels), read before its bytes are dropped. */
  kernels: Map<string, number[]>;
}

export async function startProfile(program: Uint8Array): Promise<PendingProfile> {
  const folder = await mkdtemp(path.join(tmpdir(), 'filter-atlas-profile-'));
  return { folder, kernels: convKernels(program), options: { enableProfiling: true, profileFilePrefix: path.join(folder, 'profile') } };
}

/** Ends the session's profiling (ONNX Runtime writes the file then), reads the placement, removes the folder. */
export async function finishProfile(graph: string, session: { endProfiling(): void }, profile: PendingProfile): Promise<PlacementReport> {
  try {
    session.endProfiling();
    const events: ProfileEvent[] = [];
    for (const file of await readdir(profile.folder)) events.push(...(JSON.parse(await readFile(path.join(profile.folder, file), 'utf8')) as ProfileEvent[]));
    return placementFromProfile(graph, events, profile.kernels);
  } finally {
    await rm(profile.folder, { recursive: true, force: true });
  }
}
