/**
 * safetensors: 8-byte little-endian header length, a JSON header
 * ({name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?}), then the raw
 * little-endian tensor bytes. Float tensors read as float32 (F16 / BF16 / F64 converted).
 */
import { readFile } from 'node:fs/promises';
import { endianness } from 'node:os';
import { describeValue, userError } from '../errors.js';
import { writeFileAtomic } from '../util/fs.js';
import type { Tensor } from './graph.js';
import { checkedDims } from './dims.js';
import { halfToFloat } from './half.js';

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  /** Byte range inside the data section. */
  begin: number;
  end: number;
}

export interface SafetensorsFile {
  path: string;
  entries: Map<string, SafetensorsEntry>;
  metadata: Record<string, string>;
  /** The tensor as float32; throws a user error for a missing key or a non-float dtype. */
  get(key: string): Tensor;
}

const FLOAT_WIDTH: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };
const ANY_WIDTH: Record<string, number> = { ...FLOAT_WIDTH, I64: 8, U64: 8, I32: 4, U32: 4, I16: 2, U16: 2, I8: 1, U8: 1, BOOL: 1, F8_E4M3: 1, F8_E5M2: 1 };


const FIX = 'Save the state dict with safetensors.torch.save_file(model.state_dict(), PATH), or download the file again.';

function invalid(path: string, received: string): Error {
  return userError({ where: path, expected: 'a safetensors file (8-byte header length, JSON header, tensor data)', received, fix: FIX });
}

function parseHeader(path: string, bytes: Buffer): { entries: Map<string, SafetensorsEntry>; metadata: Record<string, string>; dataStart: number } {
  if (bytes.length < 8) throw invalid(path, `${bytes.length} bytes`);
  const headerLength = Number(bytes.readBigUInt64LE(0));
  if (headerLength > bytes.length - 8 || headerLength > 100_000_000) throw invalid(path, `a header length of ${headerLength} in a file of ${bytes.length} bytes`);
  let header: unknown;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + headerLength).toString('utf8'));
  } catch (error) {
    throw invalid(path, `a header that is not JSON (${error instanceof Error ? error.message : String(error)})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw invalid(path, `a header of ${describeValue(header)}`);
  const dataStart = 8 + headerLength;
  const dataLength = bytes.length - dataStart;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      metadata = (value ?? {}) as Record<string, string>;
      continue;
    }
    const v = (typeof value === 'object' && value !== null ? value : {}) as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const offsets = v.data_offsets;
    if (typeof v.dtype !== 'string' || !Array.isArray(v.shape) || !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o))) {
      throw invalid(path, `tensor ${key} described as ${JSON.stringify(value)?.slice(0, 200)}`);
    }
    const { dims, count } = checkedDims(v.shape as unknown[], `${path} tensor ${key}`, FIX);
    const [begin, end] = offsets as number[];
    const width = ANY_WIDTH[v.dtype];
    if (!(begin >= 0 && end <= dataLength && begin <= end) || (width !== undefined && end - begin !== count * width)) {
      throw invalid(path, `tensor ${key}: ${v.dtype} [${dims}] at bytes ${begin}..${end} of ${dataLength}`);
    }
    entries.set(key, { dtype: v.dtype, shape: dims, begin, end });
  }
  return { entries, metadata, dataStart };
}

function toFloat32(bytes: Buffer, offset: number, entry: SafetensorsEntry): Float32Array {
  const count = entry.shape.reduce((a, b) => a * b, 1);
  const start = bytes.byteOffset + offset + entry.begin;
  // Zero-copy view when aligned on a little-endian machine: VGG-16 weights are over 500 MB.
  if (entry.dtype === 'F32' && start % 4 === 0 && endianness() === 'LE') return new Float32Array(bytes.buffer, start, count);
  const view = new DataView(bytes.buffer, start, entry.end - entry.begin);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    if (entry.dtype === 'F32') out[i] = view.getFloat32(4 * i, true);
    else if (entry.dtype === 'F64') out[i] = view.getFloat64(8 * i, true);
    else if (entry.dtype === 'F16') out[i] = halfToFloat(view.getUint16(2 * i, true));
    else out[i] = new Float32Array(new Uint32Array([view.getUint16(2 * i, true) << 16]).buffer)[0]; // BF16: top half of a float32
  }
  return out;
}

/** Reads a safetensors file; tensors are decoded on get(). */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw userError({ where: path, expected: 'a readable .safetensors file', received: (error as NodeJS.ErrnoException).code ?? String(error) }, error);
  }
  return parseSafetensors(bytes, path);
}

/** Parses safetensors bytes already in memory; `path` names the source in errors. */
export function parseSafetensors(bytes: Buffer, path: string): SafetensorsFile {
  const { entries, metadata, dataStart } = parseHeader(path, bytes);
  return {
    path,
    entries,
    metadata,
    get(key: string): Tensor {
      const entry = entries.get(key);
      if (!entry) throw userError({ where: `${path} tensor ${key}`, expected: 'the tensor in the file', received: 'no such key' });
      if (FLOAT_WIDTH[entry.dtype] === undefined) {
        throw userError({ where: `${path} tensor ${key}`, expected: 'dtype F32, F16, BF16 or F64', received: describeValue(entry.dtype) });
      }
      return { shape: [...entry.shape], data: toFloat32(bytes, dataStart, entry) };
    },
  };
}

/** Encodes float32 tensors (in the given order) as safetensors bytes; the data starts 8-byte aligned. */
export function encodeSafetensors(tensors: Iterable<[string, Tensor]>, metadata?: Record<string, string>): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  const blobs: Float32Array[] = [];
  let offset = 0;
  for (const [name, tensor] of tensors) {
    const count = tensor.shape.reduce((a, b) => a * b, 1);
    if (count !== tensor.data.length) throw new Error(`safetensors: tensor ${name} has shape [${tensor.shape}] but ${tensor.data.length} values`);
    header[name] = { dtype: 'F32', shape: tensor.shape, data_offsets: [offset, offset + 4 * count] };
    blobs.push(tensor.data);
    offset += 4 * count;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let position = 8 + headerBytes.length;
  for (const blob of blobs) {
    if (endianness() === 'LE') Buffer.from(blob.buffer, blob.byteOffset, blob.byteLength).copy(out, position);
    else for (let i = 0; i < blob.length; i++) out.writeFloatLE(blob[i], position + 4 * i);
    position += 4 * blob.length;
  }
  return out;
}

/** Writes float32 tensors as a safetensors file (atomically). */
export async function writeSafetensors(path: string, tensors: Iterable<[string, Tensor]>, metadata?: Record<string, string>): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
