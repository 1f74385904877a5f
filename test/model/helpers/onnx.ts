/** Builds small ONNX models with onnx-proto for the importer tests (ir_version 8, opset 13). */
import pkg from 'onnx-proto';

const { onnx } = pkg;
const { AttributeType } = onnx.AttributeProto;
const { DataType } = onnx.TensorProto;

export type Attr = number | number[] | string | { tensor: InstanceType<typeof onnx.TensorProto> } | { float: number };

/** A FLOAT tensor, stored in raw_data (default) or float_data. */
export function floatTensor(name: string, dims: number[], values: number[] | Float32Array, storage: 'raw' | 'float' = 'raw') {
  const data = Float32Array.from(values);
  return storage === 'raw'
    ? onnx.TensorProto.create({ name, dims, dataType: DataType.FLOAT, rawData: new Uint8Array(data.buffer) })
    : onnx.TensorProto.create({ name, dims, dataType: DataType.FLOAT, floatData: Array.from(data) });
}

export function int64Tensor(name: string, dims: number[], values: number[]) {
  return onnx.TensorProto.create({ name, dims, dataType: DataType.INT64, rawData: new Uint8Array(BigInt64Array.from(values.map(BigInt)).buffer) });
}

function attribute(name: string, value: Attr) {
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value });
  if (typeof value === 'number') return onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value });
  if ('float' in value) return onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value.float });
  return onnx.AttributeProto.create({ name, type: AttributeType.TENSOR, t: value.tensor });
}

export function node(opType: string, name: string, input: string[], output: string[], attrs: Record<string, Attr> = {}) {
  return onnx.NodeProto.create({ opType, name, input, output, attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
}

function valueInfo(name: string, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: { tensorType: { elemType: DataType.FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) } } },
  });
}

export function modelBytes(options: {
  nodes: ReturnType<typeof node>[];
  initializers: ReturnType<typeof floatTensor>[];
  input: { name: string; dims: Array<number | string> };
  output: string;
}): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'test',
    node: options.nodes,
    initializer: options.initializers,
    input: [valueInfo(options.input.name, options.input.dims)],
    output: [onnx.ValueInfoProto.create({ name: options.output })],
  });
  const model = onnx.ModelProto.create({ irVersion: 8, opsetImport: [{ domain: '', version: 13 }], producerName: 'filter-atlas-test', graph });
  return onnx.ModelProto.encode(model).finish();
}
