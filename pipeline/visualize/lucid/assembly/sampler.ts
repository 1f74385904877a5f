// The robustness transforms' composed bilinear sampling (pipeline/visualize/lucid/transforms.ts
// `sampler`) and its adjoint, on float32 lanes. transforms.ts stays the definition; this is the same map:
// output pixel (y, x) reads the input at (a y + b x + c, d y + e x + f), positions that are integers
// up to float noise snapped to them, clamped into a one-pixel border that reads `fill`.
//
// Why interleaved: WebAssembly has no gather, so the three colour planes of an image are copied into
// one bordered array of pixels of 4 floats (r, g, b, unused), (height + 2) x (width + 2) pixels; one
// v128 load then reads a tap of all three colours, and a bilinear sample is 4 loads and 4 multiply-adds
// for the three planes at once. The adjoint scatters into the same layout and copies the inside back.
//
// A step's map is set up once (`samplerSetup`, per-output-pixel corner and weights), then `samplerForward`
// and `samplerAdjoint` run for any number of images with it. Arrays (byte offsets, laid out by the caller):
//   corner:  i32 x outHeight * outWidth, the byte offset of the top-left tap in `scratch`
//   weights: f32 x 4 * outHeight * outWidth, per output pixel the taps' weights
//            (1-fy)(1-fx), (1-fy)fx, fy(1-fx), fy fx (computed in float64, stored as float32)
//   scratch: f32 x 4 * (height + 2) * (width + 2), the bordered interleaved copy (forward) or sums (adjoint)
// Images are n x 3 planes, planar (n x 3 x height x width in, n x 3 x outHeight x outWidth out).

// Float noise below this is rounded away (transforms.ts `snap`), so crops and pads copy pixels exactly.
const SNAP: f64 = 1e-9;

@inline function snap(v: f64): f64 {
  const r = Math.round(v);
  return Math.abs(v - r) < SNAP ? r : v;
}

export function samplerSetup(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, height: i32, width: i32, outHeight: i32, outWidth: i32, corner: usize, weights: usize): void {
  const stride = width + 2;
  const maxY = <f64>(height + 1);
  const maxX = <f64>(width + 1);
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const sy = Math.min(maxY, Math.max(0, snap(a * y + b * x + c) + 1));
      const sx = Math.min(maxX, Math.max(0, snap(d * y + e * x + f) + 1));
      const y0 = Math.min(<f64>height, Math.floor(sy));
      const x0 = Math.min(<f64>width, Math.floor(sx));
      const fy = sy - y0;
      const fx = sx - x0;
      const o = <usize>(y * outWidth + x);
      store<i32>(corner + (o << 2), (<i32>y0 * stride + <i32>x0) << 4);
      const at = weights + (o << 4);
      store<f32>(at, <f32>((1 - fy) * (1 - fx)));
      store<f32>(at, <f32>((1 - fy) * fx), 4);
      store<f32>(at, <f32>(fy * (1 - fx)), 8);
      store<f32>(at, <f32>(fy * fx), 12);
    }
  }
}

// Three planes (r, g, b, each `count` floats apart) of one row into interleaved pixels at `to`.
@inline function interleaveRow(r: usize, planeBytes: usize, count: i32, to: usize): void {
  const vectors = count & ~3;
  for (let x = 0; x < vectors; x += 4) {
    const at = <usize>x << 2;
    const vr = v128.load(r + at);
    const vg = v128.load(r + planeBytes + at);
    const vb = v128.load(r + 2 * planeBytes + at);
    const rg01 = v128.shuffle<f32>(vr, vg, 0, 4, 1, 5);
    const rg23 = v128.shuffle<f32>(vr, vg, 2, 6, 3, 7);
    const p = to + (at << 2);
    v128.store(p, v128.shuffle<f32>(rg01, vb, 0, 1, 4, 4));
    v128.store(p, v128.shuffle<f32>(rg01, vb, 2, 3, 5, 5), 16);
    v128.store(p, v128.shuffle<f32>(rg23, vb, 0, 1, 6, 6), 32);
    v128.store(p, v128.shuffle<f32>(rg23, vb, 2, 3, 7, 7), 48);
  }
  for (let x = vectors; x < count; x++) {
    const at = <usize>x << 2;
    const p = to + (at << 2);
    store<f32>(p, load<f32>(r + at));
    store<f32>(p, load<f32>(r + planeBytes + at), 4);
    store<f32>(p, load<f32>(r + 2 * planeBytes + at), 8);
  }
}

// Interleaved pixels at `from` back into three planes (the inverse of interleaveRow).
@inline function deinterleaveRow(from: usize, count: i32, r: usize, planeBytes: usize): void {
  const vectors = count & ~3;
  for (let x = 0; x < vectors; x += 4) {
    const at = <usize>x << 2;
    const p = from + (at << 2);
    const p0 = v128.load(p);
    const p1 = v128.load(p, 16);
    const p2 = v128.load(p, 32);
    const p3 = v128.load(p, 48);
    const lo = v128.shuffle<f32>(p0, p1, 0, 4, 1, 5); // r0 r1 g0 g1
    const hi = v128.shuffle<f32>(p2, p3, 0, 4, 1, 5); // r2 r3 g2 g3
    v128.store(r + at, v128.shuffle<f32>(lo, hi, 0, 1, 4, 5));
    v128.store(r + planeBytes + at, v128.shuffle<f32>(lo, hi, 2, 3, 6, 7));
    const b01 = v128.shuffle<f32>(p0, p1, 2, 6, 2, 6);
    const b23 = v128.shuffle<f32>(p2, p3, 2, 6, 2, 6);
    v128.store(r + 2 * planeBytes + at, v128.shuffle<f32>(b01, b23, 0, 1, 4, 5));
  }
  for (let x = vectors; x < count; x++) {
    const at = <usize>x << 2;
    const p = from + (at << 2);
    store<f32>(r + at, load<f32>(p));
    store<f32>(r + planeBytes + at, load<f32>(p, 4));
    store<f32>(r + 2 * planeBytes + at, load<f32>(p, 8));
  }
}

/** n images (n x 3 planes of height x width at `input`) sampled into n x 3 planes of outHeight x outWidth at `output`. */
export function samplerForward(input: usize, output: usize, n: i32, height: i32, width: i32, outHeight: i32, outWidth: i32, fill: f32, corner: usize, weights: usize, scratch: usize): void {
  const stride = <usize>(width + 2) << 4;
  const grey = f32x4.splat(fill);
  // The border reads the fill; the inside is overwritten by every image.
  for (let x = 0; x < width + 2; x++) {
    v128.store(scratch + (<usize>x << 4), grey);
    v128.store(scratch + <usize>(height + 1) * stride + (<usize>x << 4), grey);
  }
  for (let y = 1; y <= height; y++) {
    v128.store(scratch + <usize>y * stride, grey);
    v128.store(scratch + <usize>y * stride + (<usize>(width + 1) << 4), grey);
  }
  const inPlane = <usize>(height * width) << 2;
  const count = outHeight * outWidth;
  const outPlane = <usize>count << 2;
  for (let i = 0; i < n; i++) {
    const image = input + <usize>i * 3 * inPlane;
    for (let y = 0; y < height; y++) {
      interleaveRow(image + <usize>(y * width) * 4, inPlane, width, scratch + <usize>(y + 1) * stride + 16);
    }
    const out = output + <usize>i * 3 * outPlane;
    for (let o = 0; o < count; o++) {
      const at = <usize>o << 2;
      const p = scratch + <usize>load<i32>(corner + at);
      const w = v128.load(weights + (at << 2));
      let v = f32x4.mul(v128.load(p), v128.shuffle<f32>(w, w, 0, 0, 0, 0));
      v = f32x4.add(v, f32x4.mul(v128.load(p, 16), v128.shuffle<f32>(w, w, 1, 1, 1, 1)));
      v = f32x4.add(v, f32x4.mul(v128.load(p + stride), v128.shuffle<f32>(w, w, 2, 2, 2, 2)));
      v = f32x4.add(v, f32x4.mul(v128.load(p + stride, 16), v128.shuffle<f32>(w, w, 3, 3, 3, 3)));
      v128.store32_lane(out + at, v, 0);
      v128.store32_lane(out + outPlane + at, v, 1);
      v128.store32_lane(out + 2 * outPlane + at, v, 2);
    }
  }
}

/** The adjoint: n x 3 planes of outHeight x outWidth at `gradient` scattered into n x 3 planes of height x width at `output` (the border's share is dropped). */
export function samplerAdjoint(gradient: usize, output: usize, n: i32, height: i32, width: i32, outHeight: i32, outWidth: i32, corner: usize, weights: usize, scratch: usize): void {
  const stride = <usize>(width + 2) << 4;
  const scratchBytes = <usize>(height + 2) * stride;
  const inPlane = <usize>(height * width) << 2;
  const count = outHeight * outWidth;
  const outPlane = <usize>count << 2;
  for (let i = 0; i < n; i++) {
    memory.fill(scratch, 0, scratchBytes);
    const g = gradient + <usize>i * 3 * outPlane;
    for (let o = 0; o < count; o++) {
      const at = <usize>o << 2;
      const p = scratch + <usize>load<i32>(corner + at);
      const w = v128.load(weights + (at << 2));
      let v = v128.load32_zero(g + at);
      v = v128.load_lane<f32>(g + outPlane + at, v, 1);
      v = v128.load_lane<f32>(g + 2 * outPlane + at, v, 2);
      v128.store(p, f32x4.add(v128.load(p), f32x4.mul(v, v128.shuffle<f32>(w, w, 0, 0, 0, 0))));
      v128.store(p, f32x4.add(v128.load(p, 16), f32x4.mul(v, v128.shuffle<f32>(w, w, 1, 1, 1, 1))), 16);
      v128.store(p + stride, f32x4.add(v128.load(p + stride), f32x4.mul(v, v128.shuffle<f32>(w, w, 2, 2, 2, 2))));
      v128.store(p + stride, f32x4.add(v128.load(p + stride, 16), f32x4.mul(v, v128.shuffle<f32>(w, w, 3, 3, 3, 3))), 16);
    }
    const image = output + <usize>i * 3 * inPlane;
    for (let y = 0; y < height; y++) {
      deinterleaveRow(scratch + <usize>(y + 1) * stride + 16, width, image + <usize>(y * width) * 4, inPlane);
    }
  }
}
