/** What `--device` and the config's `device` accept; `auto` tries cuda, then webgpu, then cpu. */
export const DEVICE_NAMES = ['auto', 'cpu', 'webgpu', 'cuda'] as const;
export type DeviceName = (typeof DEVICE_NAMES)[number];
