/**
 * Where the ascent's state lives on each provider (ort/residency.ts). No CUDA here: what can be
 * tested without its provider files is the choice, and the fact it rests on: onnxruntime-node 1.30
 * binds a 'gpu-buffer' output to WebGPU's buffers only, so a session on another provider asked for
 * one returns a host tensor (shown on the CPU provider; CUDA's binding path is the same).
 */
import { describe, expect, it } from 'vitest';
import { OnnxGraphBuilder } from '../../pipeline/engine/ort/onnx-builder.js';
import { ascentOnDeviceByDefault, stateLocation } from '../../pipeline/engine/ort/residency.js';
import { loadRuntime } from '../../pipeline/engine/ort/runtime.js';

describe('residency of the ascent state', () => {
  it('is on the device on WebGPU only; CUDA and the CPU run Adam on the host', () => {
    expect(ascentOnDeviceByDefault('webgpu')).toBe(true);
    expect(ascentOnDeviceByDefault('cuda')).toBe(false);
    expect(ascentOnDeviceByDefault('cpu')).toBe(false);
    // Asked for, a GPU provider is asked to keep the outputs where it computed them.
    expect(stateLocation('webgpu')).toBe('gpu-buffer');
    expect(stateLocation('cuda')).toBe('gpu-buffer');
    expect(stateLocation('cpu')).toBe('cpu');
  });

  it("gets a host tensor back from a session without WebGPU asked for a 'gpu-buffer' output (onnxruntime-node 1.30)", async () => {
    const builder = new OnnxGraphBuilder();
    const x = builder.input('x', ['N', 4]);
    const y = builder.op('Add', [x, x], 'y');
    builder.output(y, ['N', 4]);
    const runtime = await loadRuntime({ device: 'cpu', threads: 1 });
    const session = await runtime.createSession(builder.encode('double'), { preferredOutputLocation: { [y]: 'gpu-buffer' } });
    try {
      const out = (await session.run({ [x]: new runtime.ort.Tensor('float32', Float32Array.of(1, 2, 3, 4), [1, 4]) }))[y];
      expect(out.location).toBe('cpu');
      expect(Array.from(out.data as Float32Array)).toEqual([2, 4, 6, 8]);
    } finally {
      await session.release();
    }
  });
});
