/**
 * SIGINT, SIGTERM and SIGHUP to the wrapper mean "stop watching", never "stop the workload":
 * nothing is forwarded. The first one aborts the controller (the core records a `detached` record:
 * the job stays open for whoever adopts it); the wrapper then prints its line and exits by itself.
 */
export interface DetachSignals {
  readonly signal: AbortSignal;
  /** The name of the signal that detached us, once one has. */
  received(): string | undefined;
  dispose(): void;
}

const DETACH_SIGNALS: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** `signals`: which signals detach (`ffrtmp watch` keeps SIGHUP for reloading its settings). */
export function onDetachSignals(signals: readonly NodeJS.Signals[] = DETACH_SIGNALS): DetachSignals {
  const controller = new AbortController();
  let got: string | undefined;
  const handler = (sig: NodeJS.Signals): void => {
    got ??= sig;
    controller.abort(sig); // the reason lands in the journal's `detached` record
  };
  for (const s of signals) process.on(s, handler);
  return {
    signal: controller.signal,
    received: () => got,
    dispose: () => {
      for (const s of signals) process.off(s, handler);
    },
  };
}
