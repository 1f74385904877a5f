/**
 * Top-k selection over an images x channels matrix: for each channel, the k rows with the
 * highest value, best first; ties go to the lower row (earlier image) so results are stable.
 */
export function topIndicesByMean(values: Float32Array, rows: number, channels: number, k: number): Int32Array[] {
  const keep = Math.min(k, rows);
  const result: Int32Array[] = [];
  for (let c = 0; c < channels; c++) {
    // Insertion into a sorted list of at most k: O(rows * k), cheap for k around 10.
    const best = new Int32Array(keep);
    const bestValues = new Float64Array(keep);
    let filled = 0;
    for (let row = 0; row < rows; row++) {
      const value = values[row * channels + c];
      if (filled === keep && !(value > bestValues[keep - 1])) continue;
      let at = filled < keep ? filled++ : keep - 1;
      while (at > 0 && value > bestValues[at - 1]) {
        best[at] = best[at - 1];
        bestValues[at] = bestValues[at - 1];
        at--;
      }
      best[at] = row;
      bestValues[at] = value;
    }
    result.push(best);
  }
  return result;
}
