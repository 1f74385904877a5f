/**
 * onnxruntime-web for the browser probe page, copied from node_modules into dist/ort/: the WebGPU
 * build's module and its WebAssembly binary, which runs the WebGPU execution provider where the
 * browser has WebGPU and the wasm (CPU) one everywhere. One binary serves both, so the site carries
 * one runtime (27 MB, README "Light pages") rather than the wasm-only and WebGPU builds side by side.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export const ORT_SEGMENT = 'ort';
/** The module pages import, and the files it loads next to it (ort.env.wasm.wasmPaths). */
export const ORT_MODULE = 'ort.webgpu.min.mjs';
export const ORT_FILES = [ORT_MODULE, 'ort-wasm-simd-threaded.asyncify.mjs', 'ort-wasm-simd-threaded.asyncify.wasm'] as const;

export function ortDistFolder(): string {
  // The binary is an exported subpath of the package; the module files sit beside it in dist/.
  return dirname(createRequire(import.meta.url).resolve('onnxruntime-web/ort-wasm-simd-threaded.asyncify.wasm'));
}

export async function copyOrtRuntime(distDir: string): Promise<{ files: string[]; bytes: number }> {
  const from = ortDistFolder();
  const to = join(distDir, ORT_SEGMENT);
  await mkdir(to, { recursive: true });
  let bytes = 0;
  for (const file of ORT_FILES) {
    await copyFile(join(from, file), join(to, file));
    bytes += (await stat(join(to, file))).size;
  }
  return { files: [...ORT_FILES], bytes };
}
