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

/** RGB in (0, 1) from decorrelated planes (n x 3 x plane): sigmoid(M v) per pixel, into `out` when given. */
export function planesToRgb(planes: Float32Array, n: number, plane: number, matrix: readonly (readonly number[])[], out: Float32Array = new Float32Array(planes.length)): Float32Array {
  // The matrix in locals: nested array reads per pixel cost as much as the arithmetic.
  const [[m00, m01, m02], [m10, m11, m12], [m20, m21, m22]] = matrix;
  for (let i = 0; i < n; i++) {
    const base = i * 3 * plane;
    for (let p = base; p < base + plane; p++) {
      const v0 = planes[p];
      const v1 = planes[p + plane];
      const v2 = planes[p + 2 * plane];
      out[p] = 1 / (1 + Math.exp(-(m00 * v0 + m01 * v1 + m02 * v2)));
      out[p + plane] = 1 / (1 + Math.exp(-(m10 * v0 + m11 * v1 + m12 * v2)));
      out[p + 2 * plane] = 1 / (1 + Math.exp(-(m20 * v0 + m21 * v1 + m22 * v2)));
    }
  }
  return out;
}

/** The adjoint: d loss / d planes from d loss / d rgb and the rgb planesToRgb returned, into `out` when given. */
export function rgbToPlanesGradient(
  gradient: Float32Array,
  rgb: Float32Array,
  n: number,
  plane: number,
  matrix: readonly (readonly number[])[],
  out: Float32Array = new Float32Array(gradient.length),
): Float32Array {
  const [[m00, m01, m02], [m10, m11, m12], [m20, m21, m22]] = matrix;
  for (let i = 0; i < n; i++) {
    const base = i * 3 * plane;
    for (let p = base; p < base + plane; p++) {
      // Through the sigmoid: d rgb / d logit = rgb (1 - rgb).
      const r0 = rgb[p];
      const r1 = rgb[p + plane];
      const r2 = rgb[p + 2 * plane];
      const g0 = gradient[p] * r0 * (1 - r0);
      const g1 = gradient[p + plane] * r1 * (1 - r1);
      const g2 = gradient[p + 2 * plane] * r2 * (1 - r2);
      out[p] = m00 * g0 + m10 * g1 + m20 * g2;
      out[p + plane] = m01 * g0 + m11 * g1 + m21 * g2;
      out[p + 2 * plane] = m02 * g0 + m12 * g1 + m22 * g2;
    }
  }
  return out;
}
