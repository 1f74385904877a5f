/** safetensors reader and writer: round trip, half-precision decoding, corrupt files. */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeSafetensors, parseSafetensors, readSafetensors, writeSafetensors } from '../../pipeline/model/safetensors.js';

/** Hand-made file: header JSON + raw bytes, as another writer would produce it. */
function fileOf(header: Record<string, unknown>, data: Uint8Array): Buffer {
  const json = Buffer.from(JSON.stringify(header));
  const length = Buffer.alloc(8);
  length.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([length, json, data]);
}

let folder: string;
beforeAll(async () => {
  folder = await mkdtemp(join(tmpdir(), 'filter-atlas-st-'));
});
afterAll(async () => {
  await rm(folder, { recursive: true, force: true });
});

describe('safetensors', () => {
  it('writes and reads back float32 tensors, shapes and metadata, with 8-byte aligned data', async () => {
    const path = join(folder, 'round.safetensors');
    const a = { shape: [2, 3], data: Float32Array.from([1, -2, 3.5, 0, 1e-8, -1e8]) };
    const b = { shape: [1], data: Float32Array.from([Math.PI]) };
    await writeSafetensors(path, [['layer.a', a], ['b', b]], { format: 'pt' });
    const file = await readSafetensors(path);
    expect([...file.entries.keys()]).toEqual(['layer.a', 'b']);
    expect(file.metadata).toEqual({ format: 'pt' });
    expect(file.get('layer.a')).toEqual(a);
    expect(file.get('b').data[0]).toBe(Math.fround(Math.PI));
    const bytes = encodeSafetensors([['b', b]]);
    expect((8 + Number(Buffer.from(bytes).readBigUInt64LE(0))) % 8).toBe(0);
  });

  it('converts F16, BF16 and F64 to float32', () => {
    const half = Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x0001]); // 1, -2, 0.5, smallest subnormal
    const brain = Uint16Array.from([0x3fc0, 0xc120]); // 1.5, -10
    const double = Float64Array.from([0.25, -3]);
    const data = Buffer.concat([Buffer.from(half.buffer), Buffer.from(brain.buffer), Buffer.from(double.buffer)]);
    const file = parseSafetensors(
      fileOf({ h: { dtype: 'F16', shape: [4], data_offsets: [0, 8] }, bf: { dtype: 'BF16', shape: [2], data_offsets: [8, 12] }, d: { dtype: 'F64', shape: [2], data_offsets: [12, 28] } }, data),
      'mixed.safetensors',
    );
    expect(Array.from(file.get('h').data)).toEqual([1, -2, 0.5, Math.fround(2 ** -24)]);
    expect(Array.from(file.get('bf').data)).toEqual([1.5, -10]);
    expect(Array.from(file.get('d').data)).toEqual([0.25, -3]);
  });

  it('refuses integer tensors as weights, unknown keys, truncated data and broken headers', async () => {
    const file = parseSafetensors(fileOf({ n: { dtype: 'I64', shape: [], data_offsets: [0, 8] } }, new Uint8Array(8)), 'int.safetensors');
    expect(() => file.get('n')).toThrow('int.safetensors tensor n: expected dtype F32, F16, BF16 or F64, received "I64"');
    expect(() => file.get('nope')).toThrow('int.safetensors tensor nope: expected the tensor in the file, received no such key');
    expect(() => parseSafetensors(fileOf({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, new Uint8Array(12)), 'short.safetensors')).toThrow(
      'short.safetensors: expected a safetensors file (8-byte header length, JSON header, tensor data), received tensor w: F32 [4] at bytes 0..16 of 12',
    );
    const garbage = join(folder, 'garbage.safetensors');
    await writeFile(garbage, Buffer.from('PK\x03\x04 this is a zip, not safetensors'));
    await expect(readSafetensors(garbage)).rejects.toThrow(/garbage\.safetensors: expected a safetensors file .*, received a header length of \d+ in a file of 35 bytes/);
  });
});
