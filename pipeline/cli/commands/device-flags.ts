/**
 * The flags every command that computes shares: `--device` (where the engine runs) and `--verbose`
 * (where each ONNX program's nodes ran), and the lines they print to stderr.
 */
import { Option } from 'commander';
import type { EngineInfo, EngineOptions } from '../../engine/engine.js';
import { DEVICE_NAMES, type DeviceName } from '../../schema/device.js';
// Light (node:fs and path only): the commands import their heavy modules lazily, this one need not be.
import { formatPlacement } from '../../engine/ort/placement.js';

export interface DeviceFlags {
  device?: DeviceName;
  verbose?: boolean;
}

/** No default here: `build` takes the config's `device` unless the flag is given. */
export function deviceOption(): Option {
  return new Option('--device <device>', 'where the engine runs; auto tries cuda, then webgpu, then cpu (default: auto, or the config\'s device)').choices(DEVICE_NAMES);
}

export function verboseOption(): Option {
  return new Option('--verbose', 'print where ONNX Runtime ran the nodes of each program (GPU or CPU, share of FLOPs, host<->device copies)');
}

const toStderr = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

/** The engine options these flags give: the device, and with --verbose a placement line per program. */
export function deviceEngineOptions(flags: DeviceFlags, log: (line: string) => void = toStderr): Pick<EngineOptions, 'device' | 'onPlacement'> {
  return {
    ...(flags.device ? { device: flags.device } : {}),
    ...(flags.verbose ? { onPlacement: (report) => log(formatPlacement(report)) } : {}),
  };
}

/** auto's one-line notice of what it chose and why, when there is one. */
export function announceDevice(info: EngineInfo, log: (line: string) => void = toStderr): void {
  if (info.selection) log(info.selection);
}
