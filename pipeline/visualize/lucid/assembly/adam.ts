// Adam on float32 lanes (torch.optim.Adam's update, no weight decay), for the lucid loop's spectra:
// m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2, p -= stepSize m / (sqrt(v) / sqrtCorrection2 + eps),
// g = sign x the gradient given (sign -1: the loop maximises its objective). stepSize and
// sqrtCorrection2 are adam.ts adamScalars(t). All pointers are byte offsets of float32 arrays of
// `count` values; count a multiple of 4 is the fast path, a tail is done lane by lane.

export function adamStep(params: usize, gradient: usize, m: usize, v: usize, count: i32, sign: f32, stepSize: f32, sqrtCorrection2: f32, beta1: f32, beta2: f32, eps: f32): void {
  const keep1 = f32x4.splat(beta1);
  const take1 = f32x4.splat(1 - beta1);
  const keep2 = f32x4.splat(beta2);
  const take2 = f32x4.splat(1 - beta2);
  const signs = f32x4.splat(sign);
  const size = f32x4.splat(stepSize);
  const correction = f32x4.splat(sqrtCorrection2);
  const epsilon = f32x4.splat(eps);
  const vectors = count & ~3;
  for (let i = 0; i < vectors; i += 4) {
    const at = <usize>i << 2;
    const g = f32x4.mul(v128.load(gradient + at), signs);
    const mi = f32x4.add(f32x4.mul(keep1, v128.load(m + at)), f32x4.mul(take1, g));
    const vi = f32x4.add(f32x4.mul(keep2, v128.load(v + at)), f32x4.mul(f32x4.mul(take2, g), g));
    v128.store(m + at, mi);
    v128.store(v + at, vi);
    const denominator = f32x4.add(f32x4.div(f32x4.sqrt(vi), correction), epsilon);
    v128.store(params + at, f32x4.sub(v128.load(params + at), f32x4.div(f32x4.mul(size, mi), denominator)));
  }
  for (let i = vectors; i < count; i++) {
    const at = <usize>i << 2;
    const g = load<f32>(gradient + at) * sign;
    const mi = beta1 * load<f32>(m + at) + (1 - beta1) * g;
    const vi = beta2 * load<f32>(v + at) + (1 - beta2) * g * g;
    store<f32>(m + at, mi);
    store<f32>(v + at, vi);
    store<f32>(params + at, load<f32>(params + at) - (stepSize * mi) / (Mathf.sqrt(vi) / sqrtCorrection2 + eps));
  }
}
