/**
 * onnxruntime-web for the browser probe page, copied from node_modules into dist/ort/: the WebGPU
 * build's module, its loader and its WebAssembly binary, which runs the WebGPU execution provider
 * where the browser has WebGPU and the wasm (CPU) one everywhere. One binary serves both, so the
 * site carries one runtime rather than the wasm-only and WebGPU builds side by side.
 *
 * The binary ships gzipped (26.8 MB -> 6.6 MB, README "Light pages"): the page inflates it with the
 * browser's DecompressionStream and hands it to onnxruntime (env.wasm.wasmBinary), so no host
 * setting is needed and the default site stays inside its 100 MB budget.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises';
import { createReadStream, createWriteStream } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGzip, constants } from 'node:zlib';

export const ORT_SEGMENT = 'ort';
/** The module pages import; it loads its loader (ORT_LOADER) from ort.env.wasm.wasmPaths. */
export const ORT_MODULE = 'ort.webgpu.min.mjs';
const ORT_LOADER = 'ort-wasm-simd-threaded.asyncify.mjs';
const ORT_BINARY = 'ort-wasm-simd-threaded.asyncify.wasm';
/** The binary as published: gzip of ORT_BINARY. */
export const ORT_BINARY_GZ = `${ORT_BINARY}.gz`;
export const ORT_FILES = [ORT_MODULE, ORT_LOADER, ORT_BINARY_GZ] as const;

export function ortDistFolder(): string {
  // The binary is an exported subpath of the package; the module files sit beside it in dist/.
  return dirname(createRequire(import.meta.url).resolve(`onnxruntime-web/${ORT_BINARY}`));
}

export async function copyOrtRuntime(distDir: string): Promise<{ files: string[]; bytes: number }> {
  const from = ortDistFolder();
  const to = join(distDir, ORT_SEGMENT);
  await mkdir(to, { recursive: true });
  for (const file of [ORT_MODULE, ORT_LOADER]) await copyFile(join(from, file), join(to, file));
  // zlib writes no timestamp or file name into the gzip header: the same bytes on every build.
  await pipeline(createReadStream(join(from, ORT_BINARY)), createGzip({ level: constants.Z_BEST_COMPRESSION }), createWriteStream(join(to, ORT_BINARY_GZ)));
  let bytes = 0;
  for (const file of ORT_FILES) bytes += (await stat(join(to, file))).size;
  return { files: [...ORT_FILES], bytes };
}
