import type { CnnModel, OpKind } from './graph.js';
import { receptiveField } from './layers.js';
import { graphAtSize } from './sized.js';
import { isFeatureMap } from './shapes.js';

/** One row of `filter-atlas layers`: what a user needs to pick a layer. */
export interface LayerRow {
  index: number;
  name: string;
  aliases: string[];
  type: OpKind;
  channels: number;
  /** Output size at the model's input size (feature maps; 1x1 for vectors). */
  height: number;
  width: number;
  /** The output's dimensions after the batch, at the model's input size. */
  shape: number[];
  /** Whether its filters can be visualised and probed: an NCHW map or an (N, C) vector. */
  layer: boolean;
  /** Input pixels one unit sees (size) and the stride between units (jump); conv and pooling layers before any global pooling only. */
  receptiveField?: { size: number; jump: number };
}

const SPATIAL: ReadonlySet<OpKind> = new Set(['conv', 'maxPool', 'avgPool']);

export function describeLayers(model: CnnModel): LayerRow[] {
  const { graph, shapes } = graphAtSize(model, model.preprocessing.inputSize);
  return graph.nodes
    .map((node, index) => ({ node, index }))
    .filter(({ node }) => node.op.kind !== 'constant')
    .map(({ node, index }) => {
      const shape = shapes.get(node.name)!;
      const field = SPATIAL.has(node.op.kind) ? receptiveField(graph, node.name) : undefined;
      const layer = isFeatureMap(shape);
      return {
        index,
        name: node.name,
        aliases: node.aliases ?? [],
        type: node.op.kind,
        channels: shape.channels,
        height: layer ? shape.height : 0,
        width: layer ? shape.width : 0,
        shape: shape.dims,
        layer,
        ...(field && !field.global ? { receptiveField: { size: field.size, jump: field.jump } } : {}),
      };
    });
}
