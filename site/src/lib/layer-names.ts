/**
 * The name a layer is shown and addressed by on the site. A layer's node name can be long (an ONNX
 * export's `/features/features.4/block/block.3/block.3.0/Conv`) where the user wrote `features.4` in
 * the config: every alias atlas.json lists is a name `filter-atlas build` accepts for the layer, so
 * the shortest is what a user types. A bare features index (`40` for torchvision's `features.40`) is
 * left out: alone it reads as a filter number. The node name stays on the page as a secondary line.
 */
import type { AtlasLayer } from '../../../pipeline/schema/atlas.js';

const isIndex = (name: string) => /^\d+$/.test(name);

export function layerDisplayName(layer: Pick<AtlasLayer, 'name' | 'aliases'>): string {
  let best = layer.name;
  for (const alias of layer.aliases ?? []) if (!isIndex(alias) && alias.length < best.length) best = alias;
  return best;
}
