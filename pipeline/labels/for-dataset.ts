/**
 * Dominant labels for a scanned dataset: base rates over its labelled images, then one label (or
 * none) per filter from the files of its top images. ImageNet-style datasets (a WordNet id per
 * image) get the WordNet hierarchy; datasets with class names only get a flat one.
 */
import type { DatasetImage } from '../dataset/list.js';
import { baseRates, dominantLabel, type DominantLabel } from './dominant.js';
import { flatHierarchy, loadImagenetHypernyms, wordnetHierarchy, type LabelHierarchy } from './hierarchy.js';

export type Labeller = (topFiles: readonly string[]) => DominantLabel | null | undefined;

/** What labelling needs of an image (a shard's manifest carries it for `merge`). */
export type LabelledImage = Pick<DatasetImage, 'file' | 'label' | 'wnid'>;

export async function datasetLabeller(images: readonly LabelledImage[]): Promise<Labeller | undefined> {
  const labelled = images.filter((image) => image.label !== undefined);
  if (labelled.length === 0) return undefined;
  const byWnid = labelled.every((image) => image.wnid !== undefined);
  let hierarchy: LabelHierarchy = flatHierarchy;
  if (byWnid) hierarchy = wordnetHierarchy(await loadImagenetHypernyms(), new Map(labelled.map((image) => [image.wnid!, image.label!])));
  const classOf = new Map(images.map((image) => [image.file, byWnid ? image.wnid : image.label]));
  const base = baseRates(hierarchy, images.map((image) => classOf.get(image.file)));
  return (topFiles) => dominantLabel(hierarchy, base, topFiles.map((file) => classOf.get(file)));
}
