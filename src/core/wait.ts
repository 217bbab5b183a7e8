import type { ObservedExit, Watch } from '../observer/types';

/**
 * Waits for watched processes to exit, or for `signal` to abort (the wrapper was told to stop).
 * ONE abort listener serves every watch of a call, however many (an `attach` of 1000 PIDs adds
 * one listener, not 1000). On abort every watch still pending is closed and its wait resolves
 * `'detached'`; the workloads are left alone: never signalled.
 */
export class DetachGate {
  private readonly pending = new Map<Watch, (outcome: 'detached') => void>();
  private readonly onAbort = (): void => {
    for (const [watch, resolve] of this.pending) {
      watch.close();
      resolve('detached');
    }
    this.pending.clear();
  };

  constructor(private readonly signal?: AbortSignal) {
    signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** Why the caller detached: the abort reason when it is a string (the CLI passes the signal name). */
  reason(): string | undefined {
    return this.signal?.aborted && typeof this.signal.reason === 'string' ? this.signal.reason : undefined;
  }

  wait(watch: Watch): Promise<ObservedExit | 'detached'> {
    if (this.signal?.aborted) {
      watch.close();
      return Promise.resolve('detached');
    }
    return new Promise((resolve) => {
      this.pending.set(watch, resolve);
      watch.exited.then((exit) => {
        if (this.pending.delete(watch)) resolve(exit);
      });
    });
  }

  /** Removes the one listener (call when every wait has settled). */
  dispose(): void {
    this.signal?.removeEventListener('abort', this.onAbort);
  }
}
