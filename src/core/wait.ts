import type { ObservedExit, Watch } from '../observer/types';

/**
 * Waits for the watched process to exit, or for `signal` to abort (the wrapper was told to
 * stop). On abort the watch is closed and the workload is left alone: never signalled.
 */
export function untilExitOrDetach(watch: Watch, signal?: AbortSignal): Promise<ObservedExit | 'detached'> {
  if (signal?.aborted) {
    watch.close();
    return Promise.resolve('detached');
  }
  return new Promise((resolve) => {
    const onAbort = (): void => {
      watch.close();
      resolve('detached');
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    watch.exited.then((exit) => {
      signal?.removeEventListener('abort', onAbort);
      resolve(exit);
    });
  });
}
