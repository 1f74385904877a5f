/**
 * What the device check's summary says about where the work ran (issue 22): from the placement
 * reports of every program the check ran (ort/placement.ts, one per program from a profile of its
 * first run), the nodes on the device asked for, the copies ONNX Runtime put inside the programs,
 * and what the ascent programs move per step. On a GPU these are the figures that break first.
 */
import type { DeviceKind, PlacementReport } from '../../pipeline/engine/engine.js';

export interface OnDevice {
  /** The provider counted as "the device": the engine's, e.g. "webgpu" (on the CPU, "cpu"). */
  provider: DeviceKind;
  programs: number;
  nodes: number;
  nodes_on_device: number;
  /** nodes_on_device / nodes, 0 to 1. */
  share_on_device: number;
  /** Host <-> device copies inside the programs, and their bytes, summed over one run of each. */
  copies: number;
  copy_bytes: number;
  /** Op types left on the CPU while the device ran the rest, summed over the programs. */
  cpu_ops: Record<string, number>;
}

export function onDevice(placements: readonly PlacementReport[], provider: DeviceKind): OnDevice {
  let nodes = 0;
  let onIt = 0;
  let copies = 0;
  let copyBytes = 0;
  const cpuOps: Record<string, number> = {};
  for (const report of placements) {
    nodes += report.nodes;
    onIt += report.providers[provider]?.nodes ?? 0;
    copies += report.copies.nodes;
    copyBytes += report.copies.bytes;
    for (const [op, count] of Object.entries(report.cpuOps)) cpuOps[op] = (cpuOps[op] ?? 0) + count;
  }
  return { provider, programs: placements.length, nodes, nodes_on_device: onIt, share_on_device: nodes ? onIt / nodes : 0, copies, copy_bytes: copyBytes, cpu_ops: cpuOps };
}

export interface AscentTransfers {
  graph: string;
  /** Bytes in and out of one step: the step size and bias correction in, the objective back. */
  per_step: { to_device: number; to_host: number };
  /** Bytes once per scale: the start images in, the pictures back at its end. */
  per_scale?: { to_device: number; to_host: number };
}

/** Per ascent program (Engine.startAscent: the WebGPU provider) its bytes per step; {} when none ran there. */
export function ascentTransfersPerStep(placements: readonly PlacementReport[]): { ascent_transfers?: AscentTransfers[] } {
  const ascents = placements.flatMap((report): AscentTransfers[] => {
    const { transfers } = report;
    if (!report.graph.startsWith('ascent|') || !transfers) return [];
    return [
      {
        graph: report.graph,
        per_step: { to_device: transfers.toDevice, to_host: transfers.toHost },
        ...(transfers.scale ? { per_scale: { to_device: transfers.scale.toDevice, to_host: transfers.scale.toHost } } : {}),
      },
    ];
  });
  return ascents.length ? { ascent_transfers: ascents } : {};
}
