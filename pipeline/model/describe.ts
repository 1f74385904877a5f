import type { CnnModel, OpKind } from './graph.js';
import { inferShapes, receptiveField } from './layers.js';

/** One row of `filter-atlas layers`: what a user needs to pick a layer. */
export interface LayerRow {
  index: number;
  name: string;
  aliases: string[];
  type: OpKind;
  channels: number;
  /** Output size at the model's input size. */
  height: number;
  width: number;
  /** Input pixels one unit sees (size) and the stride between units (jump); conv and pooling layers before any global pooling only. */
  receptiveField?: { size: number; jump: number };
}

const SPATIAL: ReadonlySet<OpKind> = new Set(['conv', 'maxPool', 'avgPool']);

/** Kinds after which a unit sees the whole image: no receptive field to report. */
const GLOBAL: ReadonlySet<OpKind> = new Set(['globalAvgPool', 'flatten', 'dense']);

export function describeLayers(model: CnnModel): LayerRow[] {
  const shapes = inferShapes(model.graph, model.preprocessing.inputSize);
  const global = new Set<string>();
  for (const node of model.graph.nodes) {
    if (GLOBAL.has(node.op.kind) || node.inputs.some((input) => global.has(input))) global.add(node.name);
  }
  return model.graph.nodes.map((node, index) => {
    const shape = shapes.get(node.name)!;
    return {
      index,
      name: node.name,
      aliases: node.aliases ?? [],
      type: node.op.kind,
      channels: shape.channels,
      height: shape.height,
      width: shape.width,
      ...(SPATIAL.has(node.op.kind) && !global.has(node.name) ? { receptiveField: receptiveField(model.graph, node.name) } : {}),
    };
  });
}
