/**
 * Sessions keyed by (purpose, layer(s), image size), built on first use and kept for
 * reuse. The batch dimension is dynamic, so batch size never adds a session (measured:
 * a static batch dim ran no faster, VGG16-BN at 112x1, 112x8, 224x1). Bounded, because a
 * VGG session holds its weights twice (forward and flipped): beyond capacity the least
 * recently used session is released once nothing runs on it.
 */
import type { Session } from './runtime.js';

interface Entry<T> {
  session: Promise<Session & T>;
  inUse: number;
  evicted: boolean;
}

/** T: what travels with each session (its program's input and output names). */
export class SessionCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(private readonly capacity: number) {}

  get size(): number {
    return this.entries.size;
  }

  /** Runs `use` with the session for `key`, creating it with `create` if needed. */
  async with<R>(key: string, create: () => Promise<Session & T>, use: (session: Session & T) => Promise<R>): Promise<R> {
    const held = this.acquire(key, create);
    try {
      return await use(await held.session);
    } finally {
      await held.release();
    }
  }

  /**
   * The session for `key`, held (never evicted nor released) until `release`: for work that spans
   * several runs, such as an ascent whose state stays in the session's device buffers between steps
   * (a device buffer must not outlive the session that allocated it).
   */
  acquire(key: string, create: () => Promise<Session & T>): { session: Promise<Session & T>; release(): Promise<void> } {
    let entry = this.entries.get(key);
    if (entry) {
      // Map order is insertion order: re-inserting marks it most recently used.
      this.entries.delete(key);
    } else {
      entry = { session: create(), inUse: 0, evicted: false };
      // A failed creation must not stay cached.
      entry.session.catch(() => this.entries.get(key) === entry && this.entries.delete(key));
    }
    this.entries.set(key, entry);
    entry.inUse++;
    this.evictBeyondCapacity();
    const held = entry;
    let released = false;
    return {
      session: held.session,
      async release() {
        if (released) return;
        released = true;
        held.inUse--;
        if (held.evicted && held.inUse === 0) await release(held);
      },
    };
  }

  async dispose(): Promise<void> {
    const all = [...this.entries.values()];
    this.entries.clear();
    for (const entry of all) entry.evicted = true; // a session still running is released when its run ends
    await Promise.all(all.filter((entry) => entry.inUse === 0).map(release));
  }

  private evictBeyondCapacity(): void {
    for (const [key, entry] of this.entries) {
      if (this.entries.size <= this.capacity) break;
      if (entry.inUse > 0) continue;
      this.entries.delete(key);
      entry.evicted = true;
      void release(entry);
    }
  }
}

async function release(entry: Entry<unknown>): Promise<void> {
  try {
    await (await entry.session).release();
  } catch {
    // A session that failed to build has nothing to release.
  }
}
