// What the lucid loop asks of each image's gradient before using it (loop.ts: a non-finite one marks
// the image diverged; an all-zero one means the filter never responded): both in one pass over
// float32 lanes. x * 0 is 0 for a finite x and NaN for an infinite or NaN one, so the sum of those
// products is 0 exactly when every value is finite.

/** Bit 1: every one of the `count` floats at `data` is finite; bit 2: at least one is not zero. */
export function gradientStatus(data: usize, count: i32): i32 {
  const zero = f32x4.splat(0);
  let products = zero;
  let nonZero = i32x4.splat(0);
  const vectors = count & ~3;
  for (let i = 0; i < vectors; i += 4) {
    const x = v128.load(data + (<usize>i << 2));
    products = f32x4.add(products, f32x4.mul(x, zero));
    nonZero = v128.or(nonZero, f32x4.ne(x, zero));
  }
  let sum = f32x4.extract_lane(products, 0) + f32x4.extract_lane(products, 1) + f32x4.extract_lane(products, 2) + f32x4.extract_lane(products, 3);
  let any = v128.any_true(nonZero);
  for (let i = vectors; i < count; i++) {
    const x = load<f32>(data + (<usize>i << 2));
    sum += x * 0;
    any = any || x != 0;
  }
  return (sum == 0 ? 1 : 0) | (any ? 2 : 0);
}
