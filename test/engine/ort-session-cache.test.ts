/** The session cache: reuse, least-recently-used eviction, no release while a run uses a session. */
import { describe, expect, it } from 'vitest';
import type { Session } from '../../pipeline/engine/ort/runtime.js';
import { SessionCache } from '../../pipeline/engine/ort/session-cache.js';

/** A fake session that records its release. */
function fakeSession(key: string, released: string[]): Session & { key: string } {
  return { key, release: async () => void released.push(key) } as unknown as Session & { key: string };
}

describe('SessionCache', () => {
  it('creates once per key, evicts the least recently used beyond capacity, releases on dispose', async () => {
    const released: string[] = [];
    const created: string[] = [];
    const cache = new SessionCache<{ key: string }>(2);
    const use = (key: string) =>
      cache.with(
        key,
        async () => (created.push(key), fakeSession(key, released)),
        async (session) => session.key,
      );
    expect(await use('a')).toBe('a');
    await use('b');
    await use('a'); // a is now the most recent
    await use('c'); // evicts b
    await new Promise((resolve) => setImmediate(resolve));
    expect(created).toEqual(['a', 'b', 'c']);
    expect(released).toEqual(['b']);
    await use('b'); // rebuilt, evicts a
    expect(created).toEqual(['a', 'b', 'c', 'b']);
    await cache.dispose();
    expect(released.sort()).toEqual(['a', 'b', 'b', 'c']);
    expect(cache.size).toBe(0);
  });

  it('releases an evicted session only after the run using it ends', async () => {
    const released: string[] = [];
    const cache = new SessionCache<{ key: string }>(1);
    let finish!: () => void;
    const running = cache.with('slow', async () => fakeSession('slow', released), () => new Promise<void>((resolve) => (finish = resolve)));
    await new Promise((resolve) => setImmediate(resolve));
    await cache.with('next', async () => fakeSession('next', released), async () => undefined);
    expect(released).toEqual([]); // over capacity, but 'slow' is in use
    await cache.with('other', async () => fakeSession('other', released), async () => undefined);
    expect(released).toEqual(['next']);
    finish();
    await running;
    await cache.dispose();
    expect(released.sort()).toEqual(['next', 'other', 'slow']);
  });

  it('does not keep a session whose creation failed', async () => {
    const cache = new SessionCache<{ key: string }>(2);
    await expect(cache.with('bad', () => Promise.reject(new Error('no')), async () => 1)).rejects.toThrow('no');
    expect(cache.size).toBe(0);
  });
});
