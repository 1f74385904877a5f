/**
 * A small seeded PRNG of our own, so images depend only on the seed and never on
 * Math.random, the Node version or the order work was scheduled in.
 * Generator: xoshiro128** (Blackman & Vigna), seeded through splitmix32.
 */

export interface Random {
  /** Uniform float in [0, 1) with 32 bits of randomness. */
  next(): number;
  /** Uniform unsigned 32-bit integer. */
  uint32(): number;
}

/** One splitmix32 step: a good 32-bit mixer, used for seeding and for deriving seeds. */
function splitmix32(state: number): { value: number; state: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  z ^= z >>> 16;
  return { value: z >>> 0, state: next };
}

function checkSeed(seed: number, what: string): void {
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`${what}: expected a non-negative safe integer, received ${seed}`);
}

/** Folds a safe integer (up to 2^53) into 32 bits without losing its high bits. */
function fold(value: number): number {
  return (value >>> 0) ^ Math.floor(value / 0x1_0000_0000);
}

/**
 * A seed that depends on every part and on their order, e.g. deriveSeed(seed, filter):
 * each filter gets its own stream whatever batch it runs in.
 */
export function deriveSeed(...parts: number[]): number {
  let state = 0x2545f491;
  for (const part of parts) {
    checkSeed(part, 'deriveSeed part');
    const mixed = splitmix32(state ^ fold(part));
    state = mixed.value;
  }
  return state >>> 0;
}

export function createRandom(seed: number): Random {
  checkSeed(seed, 'createRandom seed');
  let mix = fold(seed);
  const s = new Uint32Array(4);
  for (let i = 0; i < 4; i++) {
    const step = splitmix32(mix);
    s[i] = step.value;
    mix = step.state;
  }
  // xoshiro's all-zero state is a fixed point; splitmix32 cannot give four zeros in a row, but be safe.
  if ((s[0] | s[1] | s[2] | s[3]) === 0) s[0] = 1;
  const uint32 = (): number => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  return { uint32, next: () => uint32() / 0x1_0000_0000 };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}
