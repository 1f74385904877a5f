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
  const r = nearest(v);
  return Math.abs(v - r) < SNAP ? r : v;
}

// One output pixel's corner and weights (the scalar form of samplerSetup's pairs, for an odd last column).
@inline function setUpPixel(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, height: i32, width: i32, y: i32, x: i32, o: usize, corner: usize, weights: usize): void {
  const sy = Math.min(<f64>(height + 1), Math.max(0, snap(a * y + b * x + c) + 1));
  const sx = Math.min(<f64>(width + 1), Math.max(0, snap(d * y + e * x + f) + 1));
  const y0 = Math.min(<f64>height, Math.floor(sy));
  const x0 = Math.min(<f64>width, Math.floor(sx));
  const fy = sy - y0;
  const fx = sx - x0;
  store<i32>(corner + (o << 2), (<i32>y0 * (width + 2) + <i32>x0) << 4);
  const at = weights + (o << 4);
  store<f32>(at, <f32>((1 - fy) * (1 - fx)));
  store<f32>(at, <f32>((1 - fy) * fx), 4);
  store<f32>(at, <f32>(fy * (1 - fx)), 8);
  store<f32>(at, <f32>(fy * fx), 12);
}

// Source positions of two output pixels, snapped and clamped into the border, +1 for the border
// (transforms.ts: min(size + 1, max(0, snap(p) + 1))), in the JavaScript's order of operations.
@inline function bordered(p: v128, limit: v128): v128 {
  const r = f64x2.nearest(p);
  const snapped = v128.bitselect(r, p, f64x2.lt(f64x2.abs(f64x2.sub(p, r)), f64x2.splat(SNAP)));
  return f64x2.pmin(limit, f64x2.pmax(f64x2.splat(0), f64x2.add(snapped, f64x2.splat(1))));
}

/** The map's corner and weights for every output pixel (see the top); two pixels at a time on float64 lanes. */
export function samplerSetup(a: f64, b: f64, c: f64, d: f64, e: f64, f: f64, height: i32, width: i32, outHeight: i32, outWidth: i32, corner: usize, weights: usize): void {
  const va = f64x2.splat(a), vb = f64x2.splat(b), vc = f64x2.splat(c);
  const vd = f64x2.splat(d), ve = f64x2.splat(e), vf = f64x2.splat(f);
  const limitY = f64x2.splat(<f64>(height + 1));
  const limitX = f64x2.splat(<f64>(width + 1));
  const lastY = f64x2.splat(<f64>height);
  const lastX = f64x2.splat(<f64>width);
  const one = f64x2.splat(1);
  const stride = i32x4.splat(width + 2);
  const pairs = outWidth & ~1;
  for (let y = 0; y < outHeight; y++) {
    const ys = f64x2.splat(<f64>y);
    for (let x = 0; x < pairs; x += 2) {
      const xs = f64x2.replace_lane(f64x2.splat(<f64>x), 1, <f64>(x + 1));
      const sy = bordered(f64x2.add(f64x2.add(f64x2.mul(va, ys), f64x2.mul(vb, xs)), vc), limitY);
      const sx = bordered(f64x2.add(f64x2.add(f64x2.mul(vd, ys), f64x2.mul(ve, xs)), vf), limitX);
      const y0 = f64x2.pmin(lastY, f64x2.floor(sy));
      const x0 = f64x2.pmin(lastX, f64x2.floor(sx));
      const fy = f64x2.sub(sy, y0);
      const fx = f64x2.sub(sx, x0);
      const o = <usize>(y * outWidth + x);
      const at = i32x4.add(i32x4.mul(i32x4.trunc_sat_f64x2_s_zero(y0), stride), i32x4.trunc_sat_f64x2_s_zero(x0));
      v128.store64_lane(corner + (o << 2), i32x4.shl(at, 4), 0);
      const gy = f64x2.sub(one, fy);
      const gx = f64x2.sub(one, fx);
      // Per pixel the four weights in a row: (w00, w01) and (w10, w11) of both pixels, then regrouped.
      const top = v128.shuffle<f32>(f32x4.demote_f64x2_zero(f64x2.mul(gy, gx)), f32x4.demote_f64x2_zero(f64x2.mul(gy, fx)), 0, 4, 1, 5);
      const bottom = v128.shuffle<f32>(f32x4.demote_f64x2_zero(f64x2.mul(fy, gx)), f32x4.demote_f64x2_zero(f64x2.mul(fy, fx)), 0, 4, 1, 5);
      v128.store(weights + (o << 4), v128.shuffle<f32>(top, bottom, 0, 1, 4, 5));
      v128.store(weights + (o << 4), v128.shuffle<f32>(top, bottom, 2, 3, 6, 7), 16);
    }
    if (pairs < outWidth) setUpPixel(a, b, c, d, e, f, height, width, y, pairs, <usize>(y * outWidth + pairs), corner, weights);
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
