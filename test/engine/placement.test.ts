/**
 * Node placement: the report read from ONNX Runtime's profile (counts per provider, FLOP shares,
 * host <-> device copies, the ops left on the CPU), on a synthetic WebGPU profile and on real CPU
 * runs; and the max-pool nodes a WebGPU session must keep on the CPU.
 */
import { describe, expect, it } from 'vitest';
import type { PlacementReport } from '../../pipeline/engine/engine.js';
import { createOrtEngine } from '../../pipeline/engine/ort/engine.js';
import { formatPlacement, nodeFlops, placementFromProfile, placementSummary, type ProfileEvent } from '../../pipeline/engine/ort/placement.js';
import { buildForwardProgram, buildGradientProgram } from '../../pipeline/engine/ort/programs.js';
import { webgpuCpuNodes } from '../../pipeline/engine/ort/webgpu-fallback.js';
import { SizedGraphs } from '../../pipeline/model/sized.js';
import { branchy, darknetLike, randomImages } from './helpers/graphs.js';

const node = (name: string, op: string, provider: string, inputs: number[][], output: number[], outputSize = 0): ProfileEvent => ({
  cat: 'Node',
  name: `${name}_kernel_time`,
  args: { op_name: op, provider, input_type_shape: inputs.map((s) => ({ float: s })), output_type_shape: [{ float: output }], output_size: String(outputSize) },
});

describe('placement from a profile', () => {
  // A WebGPU run: two convs on the GPU, a max pool with indices and its unpool forced to the CPU, two copies.
  const events: ProfileEvent[] = [
    { cat: 'Session', name: 'session_initialization' },
    node('conv1', 'Conv', 'WebGpuExecutionProvider', [[1, 3, 8, 8], [4, 3, 3, 3]], [1, 4, 8, 8]),
    node('copy_out', 'MemcpyToHost', 'WebGpuExecutionProvider', [[1, 4, 8, 8]], [1, 4, 8, 8], 1024),
    node('pool', 'MaxPool', 'CPUExecutionProvider', [[1, 4, 8, 8]], [1, 4, 4, 4]),
    node('unpool', 'MaxUnpool', 'CPUExecutionProvider', [[1, 4, 4, 4]], [1, 4, 8, 8]),
    node('copy_in', 'MemcpyFromHost', 'WebGpuExecutionProvider', [[1, 4, 8, 8]], [1, 4, 8, 8], 1024),
    node('conv1_grad', 'ConvTranspose', 'WebGpuExecutionProvider', [[1, 4, 8, 8], [4, 3, 3, 3]], [1, 3, 8, 8]),
    // The same node again (two runs in flight while profiling): counted once.
    node('conv1', 'Conv', 'WebGpuExecutionProvider', [[1, 3, 8, 8], [4, 3, 3, 3]], [1, 4, 8, 8]),
  ];

  it("counts a WebGPU channels-last Conv by the program's kernel (its profile lists only input and bias, under a renamed node)", () => {
    // As recorded on SwiftShader: the layout pass renames the node `<name>_token_<n>` and the profile
    // lists the NHWC input and the bias, not the repacked weights.
    const nhwc = [node('node:conv1_token_1', 'Conv', 'WebGpuExecutionProvider', [[1, 8, 8, 3], [4]], [1, 8, 8, 4])];
    const kernels = new Map([['node:conv1', [4, 3, 3, 3]]]);
    expect(placementFromProfile('forward|c|8x8', nhwc, kernels).providers.webgpu.flops).toBe(2 * (4 * 64) * (3 * 9));
    // Without the program's kernels it could only count the output values: the old 0.00 GFLOP.
    expect(placementFromProfile('forward|c|8x8', nhwc).providers.webgpu.flops).toBe(2 * 4 * 64);
  });

  it('counts nodes and FLOPs per provider, copies apart, and names the ops left on the CPU', () => {
    const report = placementFromProfile('gradient|c|8x8', events);
    const convFlops = 2 * (4 * 64) * (3 * 9);
    expect(report).toEqual({
      graph: 'gradient|c|8x8',
      nodes: 4,
      providers: { webgpu: { nodes: 2, flops: 2 * convFlops }, cpu: { nodes: 2, flops: 64 + 256 } },
      copies: { nodes: 2, bytes: 2048 },
      cpuOps: { MaxPool: 1, MaxUnpool: 1 },
    } satisfies PlacementReport);
    expect(formatPlacement(report)).toBe(
      `placement gradient|c|8x8: 4 nodes, webgpu 2 (${((100 * 2 * convFlops) / (2 * convFlops + 320)).toFixed(1)} % of 0.00 GFLOP), cpu 2 (${((100 * 320) / (2 * convFlops + 320)).toFixed(1)} % of 0.00 GFLOP, MaxPool x1, MaxUnpool x1); 2 host<->device copies, 0.0 MB per run`,
    );
    expect(placementSummary(report)).toMatch(/^webgpu 2\/4 nodes, 9\d\.\d % of FLOPs, 2 copies$/);
  });

  it('estimates FLOPs of the ops that dominate from their shapes', () => {
    expect(nodeFlops('Conv', [[2, 8, 10, 10], [16, 8, 3, 3]], [[2, 16, 10, 10]])).toBe(2 * 2 * 16 * 100 * 8 * 9);
    // Depthwise: the kernel's second dim is C_in / group = 1.
    expect(nodeFlops('Conv', [[1, 8, 10, 10], [8, 1, 3, 3]], [[1, 8, 10, 10]])).toBe(2 * 800 * 9);
    expect(nodeFlops('ConvTranspose', [[1, 16, 5, 5], [16, 8, 2, 2]], [[1, 8, 10, 10]])).toBe(2 * 400 * 32);
    expect(nodeFlops('MatMul', [[4, 512], [512, 10]], [[4, 10]])).toBe(2 * 40 * 512);
    expect(nodeFlops('Relu', [[1, 8, 4, 4]], [[1, 8, 4, 4]])).toBe(128);
  });
});

describe('placement of real programs on the CPU provider', () => {
  it('reports every program once, all of it on the CPU, with the FLOPs of its convs', async () => {
    const { model, size } = darknetLike();
    const reports: PlacementReport[] = [];
    const engine = await createOrtEngine(model, { engine: 'ort', threads: 1, device: 'cpu', onPlacement: (r) => reports.push(r) });
    try {
      const batch = randomImages(2, size);
      const weights = new Float32Array(2 * 10).fill(0.1);
      await engine.objectiveGradient(batch, 'conv3', weights);
      await engine.objectiveGradient(batch, 'conv3', weights);
      await engine.forward(batch, ['pool1']);
    } finally {
      await engine.dispose();
    }
    expect(reports.map((r) => r.graph)).toEqual([`gradient|conv3|${size.join('x')}`, `forward|pool1|${size.join('x')}`]);
    const [gradient] = reports;
    expect(Object.keys(gradient.providers)).toEqual(['cpu']);
    expect(gradient.providers.cpu.nodes).toBe(gradient.nodes);
    expect(gradient.copies).toEqual({ nodes: 0, bytes: 0 });
    expect(gradient.cpuOps).toEqual({});
    // conv1 (3 -> 8, 3x3 at 13x11), conv2 (8 -> 12, 3x3 at 7x6), conv3 (12 -> 10, 1x1 at 4x3), forward and backward, batch 2.
    const convs = 2 * 2 * (8 * 13 * 11 * 27 + 12 * 7 * 6 * 72 + 10 * 4 * 3 * 12);
    expect(gradient.providers.cpu.flops).toBeGreaterThan(convs);
    expect(placementSummary(gradient)).toBe(`cpu ${gradient.nodes}/${gradient.nodes} nodes`);
  });
});

describe('nodes a WebGPU session keeps on the CPU', () => {
  it('are the max pools whose indices the backward pass uses, in gradient programs only', () => {
    for (const { model, size } of [darknetLike(), branchy()]) {
      const sized = new SizedGraphs(model).at(size);
      const pools = sized.graph.nodes.filter((n) => n.op.kind === 'maxPool').map((n) => `node:${n.name}`);
      expect(pools.length).toBeGreaterThan(0);
      expect(webgpuCpuNodes(buildGradientProgram(model, sized, model.graph.output).bytes).sort()).toEqual(pools.sort());
      expect(webgpuCpuNodes(buildForwardProgram(model, sized, [model.graph.output]).bytes)).toEqual([]);
    }
  });
});
