/**
 * The WebGPU path on a software adapter: Debian chromium's SwiftShader Vulkan driver gives
 * onnxruntime-node's WebGPU provider (Dawn) an adapter on a machine without a GPU. A probe on
 * `--device webgpu` there runs the real WebGPU kernels: its channel means equal the CPU's, it says in
 * one line that the adapter is CPU-emulated, and Dawn prints nothing about XDG_RUNTIME_DIR; `--verbose`
 * counts the FLOPs of the program that ran there. Outside
 * CI a machine without chromium skips this; CI installs chromium, so there a missing driver fails.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { atlasSchema } from '../../pipeline/schema/atlas.js';

const run = promisify(execFile);
const CLI = join(import.meta.dirname, '../../bin/filter-atlas.js');
const ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
const present = existsSync(ICD);

describe.skipIf(!present && !process.env.CI)('webgpu on a software adapter (SwiftShader)', () => {
  it('probes like the CPU, says the adapter is emulated, and keeps Dawn quiet', async () => {
    expect(present, `${ICD} (Debian's chromium package)`).toBe(true);
    const photo = join(await ensureAsset('photos'), 'chelsea.png');
    const args = [CLI, 'probe', 'darknet-tiny', photo, '--layer', 'conv2d_16', '--json'];
    const { XDG_RUNTIME_DIR: _unset, ...env } = process.env;
    const gpu = await run(process.execPath, [...args, '--device', 'webgpu'], { env: { ...env, VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: '/usr/lib/chromium' }, maxBuffer: 16 << 20 });
    const cpu = await run(process.execPath, [...args, '--device', 'cpu'], { env, maxBuffer: 16 << 20 });
    expect(gpu.stderr.trim()).toBe('device webgpu: a CPU-emulated adapter (SwiftShader or lavapipe): GPU kernels and results, but about 100x slower than --device cpu');
    const gpuMeans = (JSON.parse(gpu.stdout) as { means: number[] }).means;
    const cpuMeans = (JSON.parse(cpu.stdout) as { means: number[] }).means;
    expect(gpuMeans).toHaveLength(1000);
    const scale = Math.max(...cpuMeans.map(Math.abs));
    const worst = Math.max(...gpuMeans.map((v, i) => Math.abs(v - cpuMeans[i])));
    console.log(`webgpu (SwiftShader) against cpu: ${(worst / scale).toExponential(1)} of the largest channel mean`);
    expect(worst / scale).toBeLessThan(1e-4);
  });

  it('builds a small atlas whose pictures and top images match a CPU build', async () => {
    const { XDG_RUNTIME_DIR: _unset, ...env } = process.env;
    const work = await mkdtemp(join(tmpdir(), 'filter-atlas-webgpu-build-'));
    const config = join(work, 'small.yaml');
    await writeFile(
      config,
      ['atlas: small', 'model: darknet-tiny', 'seed: 3', 'layers:', '  - layer: leaky_re_lu_6', '    filters: "0-3"', 'method: { scales: 2, stepsPerScale: 3 }', 'batch: { size: 4 }', 'dataset:', '  source: imagenet-sample', '  limit: 16', '  topK: 2', '  batchSize: 8', ''].join('\n'),
    );
    const build = async (device: string, extra: NodeJS.ProcessEnv) => {
      await run(process.execPath, [CLI, 'build', config, '--device', device, '--output', join(work, device), '--json'], { env: { ...env, ...extra }, maxBuffer: 16 << 20 });
      return atlasSchema.parse(JSON.parse(await readFile(join(work, device, 'small', 'atlas.json'), 'utf8')));
    };
    const gpu = await build('webgpu', { VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: '/usr/lib/chromium' });
    const cpu = await build('cpu', {});
    expect(gpu.engine.device).toContain('webgpu');
    const [gpuFilters, cpuFilters] = [gpu, cpu].map((a) => a.layers[0].filters);
    expect(gpuFilters.map((f) => f.filter)).toEqual([0, 1, 2, 3]);
    for (const [i, f] of gpuFilters.entries()) {
      const c = cpuFilters[i];
      // The ascent is chaotic in float rounding: pictures are compared by the activation they reach.
      expect(Math.abs(f.activation! - c.activation!) / Math.abs(c.activation!), `filter ${f.filter} activation`).toBeLessThan(0.02);
      expect(f.top?.map((t) => t.file), `filter ${f.filter} top images`).toEqual(c.top?.map((t) => t.file));
    }
    await rm(work, { recursive: true, force: true });
  });

  it("counts the FLOPs of the program that ran on WebGPU (its channels-last convs included)", async () => {
    const { XDG_RUNTIME_DIR: _unset, ...env } = process.env;
    const output = await mkdtemp(join(tmpdir(), 'filter-atlas-webgpu-'));
    const gflop = async (device: string, extra: NodeJS.ProcessEnv) => {
      const args = [CLI, 'visualize', 'darknet-tiny', '--layer', 'leaky_re_lu_10', '--filters', '0', '--scales', '1', '--steps', '1', '--device', device, '--verbose', '--output', output];
      const { stderr } = await run(process.execPath, args, { env: { ...env, ...extra } });
      // WebGPU runs the ascent program (the gradient program with Adam in the graph), the CPU the gradient program.
      const line = stderr.split('\n').find((l) => /placement (gradient|ascent)\|leaky_re_lu_10\|56x56/.test(l))!;
      expect(line, stderr).toBeDefined();
      return Number(/of ([\d.]+) GFLOP/.exec(line)![1]);
    };
    const gpu = await gflop('webgpu', { VK_ICD_FILENAMES: ICD, LD_LIBRARY_PATH: '/usr/lib/chromium' });
    const cpu = await gflop('cpu', {});
    console.log(`the step's program at 56 px: webgpu ${gpu} GFLOP, cpu ${cpu} GFLOP (ONNX Runtime's CPU pads the 3-channel image conv to 16)`);
    // Before, the WebGPU count read 0.00: its convs' weights are not in the profile.
    expect(gpu).toBeGreaterThan(0.75 * cpu);
    expect(gpu).toBeLessThanOrEqual(cpu);
    await rm(output, { recursive: true, force: true });
  });
});
