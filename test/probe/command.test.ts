import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { ensureAsset } from '../../pipeline/assets/index.js';
import { defineProbeCommand } from '../../pipeline/cli/commands/probe.js';

async function run(args: string[], stderr: string[] = []): Promise<string> {
  const program = new Command('filter-atlas').exitOverride();
  defineProbeCommand(program);
  const chunks: string[] = [];
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    chunks.push(String(chunk));
    return true;
  });
  const errors = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
  try {
    await program.parseAsync(['node', 'filter-atlas', 'probe', ...args]);
  } finally {
    spy.mockRestore();
    errors.mockRestore();
  }
  return chunks.join('');
}

describe('filter-atlas probe', () => {
  let folder: string;
  let tench: string;
  beforeAll(async () => {
    folder = await mkdtemp(join(tmpdir(), 'fa-probe-cmd-'));
    tench = join(await ensureAsset('imagenet-sample'), 'n01440764_tench.JPEG');
  });
  afterAll(() => rm(folder, { recursive: true, force: true }));

  it('prints JSON with every channel mean and the top K, and writes the SVG chart', async () => {
    const svg = join(folder, 'chart.svg');
    const out = await run(['darknet-tiny', tench, '--layer', 'conv2d_16', '--top', '3', '--json', '--svg', svg]);
    const lines = out.trim().split('\n');
    expect(lines).toHaveLength(1);
    const json = JSON.parse(lines[0]);
    expect(Object.keys(json)).toEqual(['model', 'layer', 'image', 'means', 'top']);
    expect([json.model, json.layer, json.image, json.means.length, json.top.length]).toEqual(['darknet-tiny', 'conv2d_16', tench, 1000, 3]);
    expect(json.top[0]).toEqual({ filter: 448, mean: json.means[448], label: 'tench' });
    const chart = await readFile(svg, 'utf8');
    expect(chart).toMatch(/^<svg /);
    expect(chart).toContain('>448 tench</text>');
  });

  it('prints a readable table, and rejects a bad --top before loading anything', async () => {
    const out = await run(['darknet-tiny', tench, '--layer', 'conv2d_16', '--top', '2']);
    expect(out).toMatch(/^top 2 of 1000 filters of darknet-tiny conv2d_16 for .*n01440764_tench\.JPEG \(onnxruntime .*\):\n {3}1\. filter {2}448 {2}mean +\d+(\.\d{1,3})? {2}tench\n {3}2\. filter +\d+ {2}mean/);
    await expect(run(['darknet-tiny', tench, '--layer', 'conv2d_16', '--top', 'many'])).rejects.toThrow('--top: expected a positive integer, received "many". For example --top 5.');
  });

  it("says which device auto chose, and with --verbose where each program's nodes ran", async () => {
    const stderr: string[] = [];
    await run(['darknet-tiny', tench, '--layer', 'conv2d_16', '--top', '1', '--verbose'], stderr);
    const lines = stderr.join('').trim().split('\n');
    expect(lines[0]).toMatch(/^device auto: cpu \(cuda skipped: .+; webgpu skipped: .+\)$/);
    expect(lines[1]).toMatch(/^placement forward\|conv2d_16\|224x224: \d+ nodes, cpu \d+ \(100\.0 % of \d+\.\d\d GFLOP\); no host<->device copies$/);
  });

  it('fails with the adapter error on --device webgpu here (no GPU), and refuses an unknown device', async () => {
    await expect(run(['darknet-tiny', tench, '--layer', 'conv2d_16', '--device', 'webgpu'])).rejects.toThrow(/^device "webgpu" \(onnxruntime engine\): expected a WebGPU adapter/);
    await expect(run(['darknet-tiny', tench, '--layer', 'conv2d_16', '--device', 'gpu'])).rejects.toThrow("option '--device <device>' argument 'gpu' is invalid. Allowed choices are auto, cpu, webgpu, cuda.");
  });
});

describe('every command that computes', () => {
  it('has --device and --verbose', async () => {
    const { commands } = await import('../../pipeline/cli/commands/index.js');
    const program = new Command('filter-atlas');
    for (const define of commands) define(program);
    for (const name of ['build', 'visualize', 'probe', 'classify', 'diff']) {
      const options = program.commands.find((c) => c.name() === name)!.options.map((o) => o.long);
      expect(options, name).toEqual(expect.arrayContaining(['--device', '--verbose']));
    }
  });
});
