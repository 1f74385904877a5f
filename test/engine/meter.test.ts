/**
 * meterEngine (engine.ts): the engine's busy time counts overlapping calls once, so a stage's engine
 * seconds never exceed its wall time; FLOPs pass through when the engine counts them, and are absent
 * when it cannot (tfjs).
 */
import { describe, expect, it } from 'vitest';
import { meterEngine, type Engine } from '../../pipeline/engine/engine.js';

/** An engine whose calls end when the test says, on a clock the test moves. */
function controlledEngine(flops?: () => number) {
  const pending: Array<() => void> = [];
  const call = () => new Promise<never>((resolve) => pending.push(() => resolve(undefined as never)));
  const engine = {
    info: { name: 'ort', device: 'test', deviceKind: 'cpu' },
    forward: call,
    objectiveGradient: call,
    backward: call,
    attribution: call,
    rowAttribution: call,
    ...(flops ? { flopsComputed: flops } : {}),
    dispose: async () => {},
  } as unknown as Engine;
  return { engine, finishNext: () => pending.shift()!() };
}

const batch = { data: new Float32Array(3), n: 1, height: 1, width: 1 };
const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

describe('meterEngine', () => {
  it('counts the time with any call in flight once, and passes the FLOP count through', async () => {
    const clock = { ms: 0 };
    let flops = 0;
    const { engine, finishNext } = controlledEngine(() => flops);
    const metered = meterEngine(engine, () => clock.ms);
    const first = metered.engine.forward(batch, ['a']);
    clock.ms = 1000;
    const second = metered.engine.objectiveGradient(batch, 'a', new Float32Array(1)); // overlaps the first
    clock.ms = 3000;
    finishNext();
    await settle();
    clock.ms = 4000;
    flops = 5e9;
    finishNext();
    await Promise.all([first, second]);
    clock.ms = 10_000; // idle: not counted
    expect(metered.usage()).toEqual({ seconds: 4, flops: 5e9 });
    const third = metered.engine.backward(batch, 'a', new Float32Array(1));
    clock.ms = 12_000;
    expect(metered.usage().seconds).toBe(6); // a call in flight counts up to now
    finishNext();
    await third;
  });

  it('leaves FLOPs out for an engine that cannot count them', async () => {
    const { engine, finishNext } = controlledEngine();
    const metered = meterEngine(engine, () => 0);
    const call = metered.engine.forward(batch, ['a']);
    finishNext();
    await call;
    expect(metered.usage()).toEqual({ seconds: 0 });
    expect(metered.engine.flopsComputed).toBeUndefined();
  });

  it('passes the device ascent and the bytes moved through, its steps and read-back timed as engine calls', async () => {
    const clock = { ms: 0 };
    const ascent = {
      step: async () => ((clock.ms += 2000), Float32Array.of(1)),
      finish: async () => ((clock.ms += 500), { params: new Float32Array(3), gradientSeen: [true] }),
      dispose: async () => {},
    };
    const engine = { ...controlledEngine().engine, startAscent: async () => ascent, bytesMoved: () => ({ toDevice: 8, toHost: 4 }) } as Engine;
    const metered = meterEngine(engine, () => clock.ms);
    expect(metered.engine.bytesMoved!()).toEqual({ toDevice: 8, toHost: 4 });
    const started = await metered.engine.startAscent!({ params: new Float32Array(3), n: 1, height: 1, width: 1, layer: 'a', channelWeights: new Float32Array(1), space: { mean: [0, 0, 0], std: [1, 1, 1] }, frozen: [false], adam: { weightDecay: 0, beta1: 0.9, beta2: 0.999, eps: 1e-8 } });
    await started.step(0.1, 0.03);
    clock.ms += 1000; // the host's share: not counted
    await started.finish();
    expect(metered.usage().seconds).toBe(2.5);
    // Engines without them (the CPU provider, tfjs) keep the loop on the host.
    const plain = meterEngine(controlledEngine().engine).engine;
    expect(plain.startAscent).toBeUndefined();
    expect(plain.bytesMoved).toBeUndefined();
  });
});
