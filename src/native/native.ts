/**
 * The one owner of the native boundary. Everything above src/native/ uses the addon through the
 * `Native` object built here, never through the raw binding:
 *
 * - every function is wrapped once, so every syscall failure arrives as a Node-shaped
 *   `SystemError` (`code: 'EMFILE'`, `errno: -24`, `syscall: 'epoll_create1'`); callers never
 *   convert errors themselves and cannot forget to;
 * - the environment's single watcher thread is started here and only here, on the first
 *   `subscribe()`, and events are dispatched by token to disposable subscriptions (the shape of
 *   @parcel/watcher's `subscribe()` → `{ unsubscribe() }`).
 *
 * The dispatch table lives on the addon instance itself (a symbol-keyed property), so it is
 * exactly as "per environment" as the watcher thread it feeds, however many times this module
 * is evaluated.
 */
import type {
  NativeBinding, NativeCapabilities, NativePidfdInfo, NativeProcEventsBatch, NativeProcEventsOpened, NativeProcEventsStats,
  NativeSpawnRequest, NativeSpawnResult, NativeWaitidStatus,
} from './binding';
import { toSystemError } from './errors';

/** epoll bits the watcher reports: the process exited (EPOLLIN), and it was reaped (EPOLLHUP). */
export const EPOLLIN = 0x001;
export const EPOLLHUP = 0x010;

/** Called on the JS thread for each epoll event of a subscribed fd (see NativeExitEventCallback). */
export type FdEventHandler = (events: number, detectedAtMs: number) => void;

/** A watched fd. `close()` stops the events (idempotent); it never closes the fd itself. */
export interface FdSubscription extends Disposable {
  close(): void;
}

/**
 * The addon as the rest of the code sees it: the raw functions (see binding.ts for their
 * contracts), each throwing only `SystemError` (or a `TypeError` "Usage: ..." for a programming
 * error), plus `subscribe()` in place of the raw watcherStart/watch/unwatch trio.
 */
export interface Native {
  pidfdOpen(pid: number): number;
  closeFd(fd: number): void;
  waitidPidfd(fd: number): NativeWaitidStatus | null;
  pidfdGetExitInfo(fd: number): NativePidfdInfo;
  spawn(req: NativeSpawnRequest): NativeSpawnResult;
  keeperGo(controlFd: number, keeperPidfd: number, candidates: string[], start: boolean): void;
  capabilities(): NativeCapabilities;
  /**
   * Makes sure this environment's watcher thread runs (starting it on first use), so that a
   * caller can learn that watching is impossible BEFORE it creates a process it could not watch.
   * Throws SystemError (`epoll_create1`/`eventfd` EMFILE, `pthread_create` EAGAIN).
   */
  ensureWatcher(): void;
  /**
   * Watches `fd` (a pidfd): `onEvent` gets every epoll event for it until `close()`. Starts the
   * watcher if needed. Throws SystemError (`epoll_ctl`, or the watcher start) with nothing
   * registered.
   */
  subscribe(fd: number, onEvent: FdEventHandler): FdSubscription;
  /** Number of fds currently watched in this environment. */
  watchCount(): number;
  /**
   * The process connector (binding.ts has the contract), on this environment's watcher thread,
   * which it starts if needed. Use `openProcEvents` (proc-events.ts) rather than these four.
   * A batch's `error` is still the raw `{ errno, syscall }`.
   */
  procEventsOpen(
    targets: string[],
    rcvbufBytes: number,
    kernelFilter: boolean,
    onBatch: (batch: NativeProcEventsBatch) => void,
    holdOffMs?: number,
  ): NativeProcEventsOpened;
  procEventsClose(id: number): void;
  procEventsSetTargets(id: number, targets: string[]): boolean;
  procEventsStats(id: number): NativeProcEventsStats | null;
  /** getxattr(2) (binding.ts): the bytes, or null when absent; SystemError otherwise. */
  getxattr(path: string, name: string): Buffer | null;
}

const DISPATCH = Symbol.for('ffrtmp.native.dispatch');

interface Dispatch {
  readonly handlers: Map<number, FdEventHandler>;
  nextToken: number;
}

/** Calls `fn`, turning the addon's errno data into a SystemError. */
function call<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    throw toSystemError(err);
  }
}

/** The one dispatcher of this addon instance, starting its watcher thread on first use. */
function dispatcher(raw: NativeBinding): Dispatch {
  const holder = raw as unknown as { [DISPATCH]?: Dispatch };
  const existing = holder[DISPATCH];
  if (existing !== undefined) return existing;
  const d: Dispatch = { handlers: new Map(), nextToken: 1 };
  call(() => raw.watcherStart((token, events, at) => d.handlers.get(token)?.(events, at)));
  Object.defineProperty(holder, DISPATCH, { value: d, enumerable: false });
  return d;
}

/** Wraps the raw binding. Called once per load (src/native/load.ts). */
export function createNative(raw: NativeBinding): Native {
  return {
    pidfdOpen: (pid) => call(() => raw.pidfdOpen(pid)),
    closeFd: (fd) => call(() => raw.closeFd(fd)),
    waitidPidfd: (fd) => call(() => raw.waitidPidfd(fd)),
    pidfdGetExitInfo: (fd) => call(() => raw.pidfdGetExitInfo(fd)),
    spawn: (req) => call(() => raw.spawn(req)),
    keeperGo: (controlFd, keeperPidfd, candidates, start) => call(() => raw.keeperGo(controlFd, keeperPidfd, candidates, start)),
    capabilities: () => call(() => raw.capabilities()),
    watchCount: () => raw.watchCount(),
    procEventsOpen(targets, rcvbufBytes, kernelFilter, onBatch, holdOffMs) {
      dispatcher(raw); // the connector is drained on the watcher thread
      return call(() => raw.procEventsOpen(targets, rcvbufBytes, kernelFilter, onBatch, holdOffMs));
    },
    procEventsClose: (id) => call(() => raw.procEventsClose(id)),
    procEventsSetTargets: (id, targets) => call(() => raw.procEventsSetTargets(id, targets)),
    procEventsStats: (id) => call(() => raw.procEventsStats(id)),
    getxattr: (path, name) => call(() => raw.getxattr(path, name)),
    ensureWatcher: () => {
      dispatcher(raw);
    },
    subscribe(fd, onEvent) {
      const d = dispatcher(raw);
      const token = d.nextToken;
      d.nextToken = token >= 0xffff_fffe ? 1 : token + 1;
      d.handlers.set(token, onEvent);
      try {
        call(() => raw.watch(fd, token));
      } catch (err) {
        d.handlers.delete(token);
        throw err;
      }
      let open = true;
      const close = (): void => {
        if (!open) return;
        open = false;
        d.handlers.delete(token);
        call(() => raw.unwatch(fd));
      };
      return { close, [Symbol.dispose]: close };
    },
  };
}
