/**
 * A budget of bytes shared by concurrent tasks (the dataset scan's decodes): a task waits until its
 * bytes fit beside those in flight. A task larger than the whole budget runs when nothing else does,
 * so every task runs and at most one exceeds the budget. First come, first served.
 */
export interface ByteBudget {
  /** Resolves when `bytes` fit; call the returned function when they are freed. */
  acquire(bytes: number): Promise<() => void>;
}

export function createByteBudget(limit: number): ByteBudget {
  let inFlight = 0;
  const waiting: Array<{ bytes: number; start: () => void }> = [];
  const fits = (bytes: number) => inFlight === 0 || inFlight + bytes <= limit;
  const next = () => {
    while (waiting.length > 0 && fits(waiting[0].bytes)) waiting.shift()!.start();
  };
  return {
    acquire(bytes) {
      return new Promise((resolve) => {
        const start = () => {
          inFlight += bytes;
          let released = false;
          resolve(() => {
            if (released) return;
            released = true;
            inFlight -= bytes;
            next();
          });
        };
        if (waiting.length === 0 && fits(bytes)) start();
        else waiting.push({ bytes, start });
      });
    },
  };
}
