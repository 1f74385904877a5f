/**
 * Superstimulus ratio (docs/design.md section 2.5): the visualisation's final activation (mean of the filter
 * over the visualisation) divided by the filter's highest activation anywhere in the dataset
 * (stats.max: the best single unit of the best photo). Comparing a spatial mean with a spatial max
 * is deliberately strict: above 1 means the picture beats the best real patch everywhere on average.
 * Undefined when the dataset never excites the filter (max <= 0) or a value is not finite: the ratio
 * would be meaningless or infinite, and the filter is flagged through activeFraction instead.
 */
export function superstimulusRatio(vizActivation: number, datasetMax: number): number | undefined {
  if (!Number.isFinite(vizActivation) || !Number.isFinite(datasetMax) || datasetMax <= 0) return undefined;
  return vizActivation / datasetMax;
}
