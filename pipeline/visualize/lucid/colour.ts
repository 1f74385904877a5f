/**
 * Lucid's colour decorrelation and sigmoid (lucid/optvis/param/color.py `to_valid_rgb`): the three
 * optimised planes are mixed by the square root of ImageNet's RGB covariance, so that a step of the
 * same size in each plane is a step along a principal colour axis of natural images, then squashed
 * into [0, 1] by a sigmoid (no clipping: every value the engine sees is displayable). And the adjoint.
 */

/**
 * Lucid's `color_correlation_svd_sqrt`: U sqrt(S) of the SVD of ImageNet's RGB covariance (columns are the
 * principal colour axes, luminance first), so that M M^T is the covariance. Lucid divides it by its largest
 * column norm, making the strongest axis a unit step.
 */
export const COLOUR_CORRELATION_SVD_SQRT: readonly (readonly [number, number, number])[] = [
  [0.26, 0.09, 0.02],
  [0.27, 0.0, -0.05],
  [0.27, -0.09, 0.03],
];

function normalisedCorrelation(): number[][] {
  const m = COLOUR_CORRELATION_SVD_SQRT;
  let maxNorm = 0;
  for (let j = 0; j < 3; j++) maxNorm = Math.max(maxNorm, Math.hypot(m[0][j], m[1][j], m[2][j]));
  return m.map((row) => row.map((v) => v / maxNorm));
}

/** rgb[c] = sum_j M[c][j] v[j], M Lucid's normalised matrix, or the identity without decorrelation. */
export function colourMatrix(decorrelate: boolean): number[][] {
  return decorrelate ? normalisedCorrelation() : [[1, 0, 0], [0, 1, 0], [0, 0, 1]];
}

/** RGB in (0, 1) from decorrelated planes (n x 3 x plane): sigmoid(M v) per pixel. */
export function planesToRgb(planes: Float32Array, n: number, plane: number, matrix: readonly (readonly number[])[]): Float32Array {
  const out = new Float32Array(planes.length);
  for (let i = 0; i < n; i++) {
    const base = i * 3 * plane;
    for (let p = 0; p < plane; p++) {
      const v0 = planes[base + p];
      const v1 = planes[base + plane + p];
      const v2 = planes[base + 2 * plane + p];
      for (let c = 0; c < 3; c++) {
        const logit = matrix[c][0] * v0 + matrix[c][1] * v1 + matrix[c][2] * v2;
        out[base + c * plane + p] = 1 / (1 + Math.exp(-logit));
      }
    }
  }
  return out;
}

/** The adjoint: d loss / d planes from d loss / d rgb and the rgb planesToRgb returned. */
export function rgbToPlanesGradient(gradient: Float32Array, rgb: Float32Array, n: number, plane: number, matrix: readonly (readonly number[])[]): Float32Array {
  const out = new Float32Array(gradient.length);
  for (let i = 0; i < n; i++) {
    const base = i * 3 * plane;
    for (let p = 0; p < plane; p++) {
      // Through the sigmoid: d rgb / d logit = rgb (1 - rgb).
      const g0 = gradient[base + p] * rgb[base + p] * (1 - rgb[base + p]);
      const g1 = gradient[base + plane + p] * rgb[base + plane + p] * (1 - rgb[base + plane + p]);
      const g2 = gradient[base + 2 * plane + p] * rgb[base + 2 * plane + p] * (1 - rgb[base + 2 * plane + p]);
      for (let j = 0; j < 3; j++) out[base + j * plane + p] = matrix[0][j] * g0 + matrix[1][j] * g1 + matrix[2][j] * g2;
    }
  }
  return out;
}
