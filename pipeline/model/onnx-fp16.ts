/**
 * An ONNX model with its large float32 weights stored as float16 and cast back to float32 when the
 * session loads: half the download, the same float32 arithmetic (onnxruntime-web's wasm kernels are
 * float32; only Cast needs to read float16). Small tensors (scalars, shapes) stay float32.
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;
const FLOAT = 1;
const FLOAT16 = 10;
/** Tensors with fewer values are left alone (their bytes do not matter, their precision might). */
const MIN_VALUES = 64;

/** float32 -> IEEE 754 half bits, round to nearest even (overflow to infinity, subnormals kept). */
export function floatToHalf(value: number): number {
  const f32 = new Float32Array([value]);
  const bits = new Uint32Array(f32.buffer)[0];
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa ? 0x200 : 0);
  let e = exponent - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - e;
    const half = mantissa >>> shift;
    const rest = mantissa & ((1 << shift) - 1);
    const midpoint = 1 << (shift - 1);
    return sign | (rest > midpoint || (rest === midpoint && half & 1) ? half + 1 : half);
  }
  let half = (e << 10) | (mantissa >>> 13);
  const rest = mantissa & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && half & 1)) half++;
  return sign | half;
}

export function toFloat16Weights(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const casts: InstanceType<typeof onnx.NodeProto>[] = [];
  graph.initializer = (graph.initializer ?? []).map((tensor) => {
    const raw = tensor.rawData;
    if (tensor.dataType !== FLOAT || !raw || raw.byteLength / 4 < MIN_VALUES) return tensor;
    const floats = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    const halves = Uint16Array.from(floats, floatToHalf);
    const name = `${tensor.name}:fp16`;
    casts.push(onnx.NodeProto.create({ opType: 'Cast', input: [name], output: [tensor.name!], name: `cast:${tensor.name}`, attribute: [onnx.AttributeProto.create({ name: 'to', type: onnx.AttributeProto.AttributeType.INT, i: FLOAT })] }));
    return onnx.TensorProto.create({ name, dims: tensor.dims, dataType: FLOAT16, rawData: new Uint8Array(halves.buffer) });
  });
  graph.node = [...casts, ...(graph.node ?? [])];
  return onnx.ModelProto.encode(model).finish();
}
