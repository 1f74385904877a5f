/**
 * ONNX values the importer reads: initializer / Constant tensors (raw_data or typed fields)
 * and node attributes. int64 fields arrive as `Long` from protobufjs; they are read as numbers.
 */
import { endianness } from 'node:os';
import pkg from 'onnx-proto';
import type Long from 'long';
import { userError } from '../errors.js';
import { checkedDims } from './dims.js';
import { halfToFloat } from './half.js';

const { onnx } = pkg;
type TensorProto = pkg.onnx.ITensorProto;
type NodeProto = pkg.onnx.INodeProto;

/** A constant: float32 for float tensors (weights, copied once), float64 for integers (shapes, pads). */
export interface OnnxConstant {
  dims: number[];
  values: Float32Array | Float64Array;
  /** An integer or boolean tensor: arithmetic on it rounds like ONNX's (Div truncates). */
  integer?: boolean;
}

/** The values as float32, without a copy when they already are. */
export const asFloat32 = (values: Float32Array | Float64Array): Float32Array => (values instanceof Float32Array ? values : Float32Array.from(values));

export const toNumber = (value: number | Long | null | undefined): number => (value == null ? 0 : typeof value === 'number' ? value : value.toNumber());

const { DataType } = onnx.TensorProto;


/** Decodes a TensorProto (FLOAT, DOUBLE, FLOAT16, INT32, INT64, INT8/UINT8) into numbers. */
export function decodeTensor(tensor: TensorProto, where: string): OnnxConstant {
  const { dims, count } = checkedDims((tensor.dims ?? []).map(toNumber), where, 'The .onnx file is damaged or was not written by an ONNX exporter; export the model again.');
  if (tensor.dataLocation === onnx.TensorProto.DataLocation.EXTERNAL) {
    throw userError({ where, expected: 'weights stored inside the .onnx file', received: 'external data', fix: 'Export again without external data (models under 2 GB), e.g. onnx.save(model, path, save_as_external_data=False).' });
  }
  const raw = tensor.rawData;
  const type = tensor.dataType ?? DataType.UNDEFINED;
  if (type === DataType.FLOAT && raw && raw.length === 4 * count && endianness() === 'LE') {
    // The common case: one aligned copy (raw may be a view into the whole file's buffer).
    const values = new Float32Array(count);
    new Uint8Array(values.buffer).set(raw);
    return { dims, values };
  }
  const integer = ![DataType.FLOAT, DataType.DOUBLE, DataType.FLOAT16].includes(type);
  // The element count must match the data present before anything is allocated from it.
  if (raw && raw.length > 0) {
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    const width = { [DataType.FLOAT]: 4, [DataType.DOUBLE]: 8, [DataType.FLOAT16]: 2, [DataType.INT32]: 4, [DataType.INT64]: 8, [DataType.INT8]: 1, [DataType.UINT8]: 1, [DataType.BOOL]: 1 }[type];
    if (width === undefined) throw userError({ where, expected: 'a float or integer tensor', received: `data type ${type}` });
    if (raw.byteLength !== count * width) throw userError({ where, expected: `${count * width} bytes for dims [${dims}]`, received: `${raw.byteLength} bytes` });
    const values = type === DataType.FLOAT ? new Float32Array(count) : new Float64Array(count);
    for (let i = 0; i < count; i++) {
      if (type === DataType.FLOAT) values[i] = view.getFloat32(4 * i, true);
      else if (type === DataType.DOUBLE) values[i] = view.getFloat64(8 * i, true);
      else if (type === DataType.FLOAT16) values[i] = halfToFloat(view.getUint16(2 * i, true));
      else if (type === DataType.INT32) values[i] = view.getInt32(4 * i, true);
      else if (type === DataType.INT64) values[i] = Number(view.getBigInt64(8 * i, true));
      else if (type === DataType.INT8) values[i] = view.getInt8(i);
      else values[i] = view.getUint8(i);
    }
    return { dims, values, ...(integer ? { integer } : {}) };
  }
  const typed =
    type === DataType.FLOAT ? tensor.floatData
    : type === DataType.DOUBLE ? tensor.doubleData
    : type === DataType.INT64 ? tensor.int64Data?.map(toNumber)
    : type === DataType.FLOAT16 ? tensor.int32Data?.map(halfToFloat)
    : tensor.int32Data;
  const list = typed ?? [];
  if (list.length !== count) throw userError({ where, expected: `${count} values for dims [${dims}]`, received: `${list.length}` });
  const values = type === DataType.FLOAT ? new Float32Array(count) : new Float64Array(count);
  values.set(list);
  return { dims, values, ...(integer ? { integer } : {}) };
}

export interface Attributes {
  int(name: string, fallback: number): number;
  ints(name: string, fallback: number[]): number[];
  float(name: string, fallback: number): number;
  string(name: string, fallback: string): string;
  tensor(name: string): TensorProto | undefined;
  has(name: string): boolean;
}

export function attributesOf(node: NodeProto): Attributes {
  const byName = new Map((node.attribute ?? []).map((a) => [a.name ?? '', a]));
  return {
    int: (name, fallback) => (byName.has(name) ? toNumber(byName.get(name)!.i) : fallback),
    ints: (name, fallback) => (byName.has(name) ? (byName.get(name)!.ints ?? []).map(toNumber) : fallback),
    float: (name, fallback) => (byName.has(name) ? (byName.get(name)!.f ?? 0) : fallback),
    string: (name, fallback) => (byName.has(name) ? new TextDecoder().decode(byName.get(name)!.s ?? new Uint8Array()) : fallback),
    tensor: (name) => (byName.get(name)?.t ?? undefined) as TensorProto | undefined,
    has: (name) => byName.has(name),
  };
}
