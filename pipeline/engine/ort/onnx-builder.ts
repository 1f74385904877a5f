/**
 * A small ONNX graph writer on top of onnx-proto: names tensors, collects nodes and
 * initializers, and encodes a ModelProto that onnxruntime accepts from memory.
 * Quirks handled here once (docs/design.md section 3): the package must be imported as a
 * default export; attributes need their `type`; int64 values go in as plain numbers
 * (a BigInt silently encodes as 0); floats go in as raw little-endian bytes (fast for
 * VGG-sized weights, where packed repeated floats would be slow).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

export const IR_VERSION = 8;
/** 16 for ScatterElements with reduction="add" (overlapping max-pool windows). */
export const OPSET = 17;

const FLOAT = 1;
const INT64 = 7;

export type Attribute = number | number[] | string | { floats: number[] };

type AttrProto = InstanceType<typeof onnx.AttributeProto>;

function attribute(name: string, value: Attribute, floatAttributes: ReadonlySet<string>): AttrProto {
  const { AttributeType } = onnx.AttributeProto;
  if (typeof value === 'string') return onnx.AttributeProto.create({ name, type: AttributeType.STRING, s: new TextEncoder().encode(value) });
  if (typeof value === 'number') {
    return floatAttributes.has(name)
      ? onnx.AttributeProto.create({ name, type: AttributeType.FLOAT, f: value })
      : onnx.AttributeProto.create({ name, type: AttributeType.INT, i: value });
  }
  if (Array.isArray(value)) return onnx.AttributeProto.create({ name, type: AttributeType.INTS, ints: value });
  return onnx.AttributeProto.create({ name, type: AttributeType.FLOATS, floats: value.floats });
}

/** Attributes ONNX declares as float; every other number attribute is an int. */
const FLOAT_ATTRIBUTES = new Set(['alpha', 'beta', 'epsilon', 'min', 'max']);

function bytesOf(view: ArrayBufferView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** A symbolic dimension (dynamic axis) or a fixed one. */
export type Dim = number | string;

export interface BuilderOptions {
  /**
   * Emit an n-ary sum as a chain of binary Adds instead of one Sum node: the WebGPU provider has no
   * Sum kernel (onnxruntime-node 1.30), so a Sum would run on the CPU with copies around it.
   */
  sumAsAdds?: boolean;
}

export class OnnxGraphBuilder {
  constructor(private readonly options: BuilderOptions = {}) {}

  private readonly nodes: InstanceType<typeof onnx.NodeProto>[] = [];
  private readonly initializers: InstanceType<typeof onnx.TensorProto>[] = [];
  private readonly inputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly outputs: InstanceType<typeof onnx.ValueInfoProto>[] = [];
  private readonly used = new Set<string>();
  private counter = 0;

  /** A fresh tensor name that starts with `hint` (names are unique in the graph). */
  name(hint: string): string {
    let candidate = hint;
    while (this.used.has(candidate)) candidate = `${hint}#${++this.counter}`;
    this.used.add(candidate);
    return candidate;
  }

  input(hint: string, dims: Dim[], elemType: 'float' | 'int64' = 'float'): string {
    const name = this.name(hint);
    this.inputs.push(this.valueInfo(name, dims, elemType));
    return name;
  }

  output(name: string, dims: Dim[], elemType: 'float' | 'int64' = 'float'): void {
    this.outputs.push(this.valueInfo(name, dims, elemType));
  }

  floatTensor(hint: string, data: Float32Array, dims: number[]): string {
    const name = this.name(hint);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: FLOAT, rawData: bytesOf(data) }));
    return name;
  }

  scalar(hint: string, value: number): string {
    return this.floatTensor(hint, new Float32Array([value]), []);
  }

  int64Tensor(hint: string, values: readonly number[], dims: number[] = [values.length]): string {
    const name = this.name(hint);
    this.initializers.push(onnx.TensorProto.create({ name, dims, dataType: INT64, rawData: bytesOf(BigInt64Array.from(values, (v) => BigInt(v))) }));
    return name;
  }

  /** Adds a node; returns its output names (fresh names from the hints, or '' for skipped optional outputs). */
  node(opType: string, inputs: string[], outputHints: string[], attributes: Record<string, Attribute> = {}): string[] {
    const outputs = outputHints.map((hint) => this.name(hint));
    this.nodes.push(
      onnx.NodeProto.create({
        opType,
        input: inputs,
        output: outputs,
        name: this.name(`node:${outputs[0]}`),
        attribute: Object.entries(attributes).map(([key, value]) => attribute(key, value, FLOAT_ATTRIBUTES)),
      }),
    );
    return outputs;
  }

  /** Shorthand for single-output nodes. */
  op(opType: string, inputs: string[], outputHint: string, attributes: Record<string, Attribute> = {}): string {
    return this.node(opType, inputs, [outputHint], attributes)[0];
  }

  /** The sum of two or more tensors: one Sum node, or Adds left to right (BuilderOptions.sumAsAdds). */
  sum(inputs: string[], outputHint: string): string {
    if (!this.options.sumAsAdds) return this.op('Sum', inputs, outputHint);
    let total = inputs[0];
    inputs.slice(1).forEach((input, i) => (total = this.op('Add', [total, input], i === inputs.length - 2 ? outputHint : `${outputHint}/partial`)));
    return total;
  }

  encode(graphName: string): Uint8Array {
    const model = onnx.ModelProto.create({
      irVersion: IR_VERSION,
      producerName: 'filter-atlas',
      opsetImport: [{ domain: '', version: OPSET }],
      graph: onnx.GraphProto.create({
        name: graphName,
        node: this.nodes,
        initializer: this.initializers,
        input: this.inputs,
        output: this.outputs,
      }),
    });
    return onnx.ModelProto.encode(model).finish();
  }

  private valueInfo(name: string, dims: Dim[], elemType: 'float' | 'int64'): InstanceType<typeof onnx.ValueInfoProto> {
    return onnx.ValueInfoProto.create({
      name,
      type: {
        tensorType: {
          elemType: elemType === 'float' ? FLOAT : INT64,
          shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
        },
      },
    });
  }
}
