/**
 * Where the visualisation's ascent keeps its state (the images and Adam's moments) between steps, per
 * execution provider (docs/design.md section 13):
 * - webgpu: in the provider's buffers. onnxruntime-node 1.30 returns an output asked for at
 *   `preferredOutputLocation: 'gpu-buffer'` as a tensor that stays on the device and can be fed to
 *   the next run; reading it from JavaScript is not implemented (its `download` throws), so the
 *   pictures come back through a one-node read-back program with host outputs (ascent-program.ts).
 * - cuda: on the host, with Adam in JavaScript as on the CPU. The binding of onnxruntime-node 1.30
 *   binds a 'gpu-buffer' output to WebGPU's buffer memory ("WebGPU_Buf") only; elsewhere the output
 *   comes back to the host (a CPU session asked for it does so, test/engine/residency.test.ts), and
 *   the in-graph Adam would then move the image and both moments each way every step, three times
 *   what the host Adam moves. The engine counts bytes by where each tensor really is, so a binding
 *   that kept CUDA outputs on the device would show at once (`ascentOnDevice: true`).
 * - cpu: on the host, with Adam in JavaScript: the atlas pictures were made with it, byte for byte.
 */
import type { Provider } from './providers.js';

/** Whether the engine offers Engine.startAscent by default on this provider. */
export const ascentOnDeviceByDefault = (provider: Provider): boolean => provider === 'webgpu';

/** Where an ascent asks the provider to leave its state outputs. */
export const stateLocation = (provider: Provider): 'cpu' | 'gpu-buffer' => (provider === 'cpu' ? 'cpu' : 'gpu-buffer');
