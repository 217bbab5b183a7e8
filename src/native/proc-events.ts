/**
 * New processes as the kernel announces them: the netlink process connector (cn_proc), for the
 * auto-attach daemon. It learns of an `ffmpeg` exec within a wake-up of the addon's watcher
 * thread instead of a /proc scan interval.
 *
 * The heavy lifting is native (docs/native.md, "The process connector"): the kernel and a BPF
 * socket filter keep exec events only, and the watcher thread reads `/proc/<pid>/comm` and drops
 * every exec whose comm is not a target, so a storm of unrelated execs never wakes JS. While execs
 * stream in, the thread drains the socket once per hold-off (5 ms) instead of once per exec. What
 * crosses is one batch per drain: the candidates, and counters; the handle's `stats()` has the
 * cumulative counters at any time.
 *
 * What this file adds: validation, comm truncation, Node-shaped errors, a disposable handle,
 * and the doctor's probe.
 */
import type { NativeProcEventsBatch, NativeProcEventsStats } from './binding';
import { SystemError, isSystemErrorLike } from './errors';
import { loadNative } from './load';
import type { Native } from './native';

/**
 * A process's comm (`/proc/<pid>/comm`, what `ps -o comm` shows) is at most 15 bytes: the
 * kernel's TASK_COMM_LEN is 16 with the terminating NUL, and exec sets it to the first 15 bytes
 * of the executable's file name. So `gst-launch-1.0` (14 bytes) is its own comm, and a target
 * longer than 15 bytes can only ever be seen by its first 15.
 */
export const COMM_MAX_BYTES = 15;

/**
 * The default coalescing hold-off, in ms (see ProcEventsOptions.holdOffMs): the most an exec inside
 * a stream of execs waits before the watcher thread reads it, well under the 10 ms budget; at most
 * 200 wake-ups a second however fast execs come (docs/native.md has the measurements).
 */
export const DEFAULT_HOLD_OFF_MS = 5;
const MAX_HOLD_OFF_MS = 1000;

/**
 * What comm a process exec'ing a file named `name` gets: its first 15 UTF-8 bytes. A cut inside
 * a multi-byte character leaves a partial character in the kernel's comm; it reads as U+FFFD
 * here, exactly as the batch's `comm` shows it. (For that reason the addon is given the names
 * untruncated and cuts the bytes itself: a JS string cannot carry half a character.)
 */
export function commOf(name: string): string {
  const bytes = Buffer.from(name, 'utf8');
  return bytes.length <= COMM_MAX_BYTES ? name : bytes.subarray(0, COMM_MAX_BYTES).toString('utf8');
}

/** One exec of a target (see NativeProcExec). */
export interface ProcExec {
  /** The process that exec'd (thread group id, initial pid namespace). */
  readonly pid: number;
  /** The kernel's timestamp of the exec: CLOCK_MONOTONIC ns, the clock of `process.hrtime.bigint()`. */
  readonly timestampNs: number;
  /**
   * `/proc/<pid>/comm` when the watcher thread looked, shortly after the exec. The pid is not
   * held: by the time JS sees it, the process may be gone, or (rarely) its pid reused. Check
   * with a pidfd before acting.
   */
  readonly comm: string;
}

/**
 * One drain of the connector (see NativeProcEventsBatch). Its `received`/`filtered` only move
 * when a batch crosses, i.e. when a target exec'd: metrics should come from the handle's `stats()`.
 */
export interface ProcEventsBatch {
  /** The candidates, one per pid. */
  readonly execs: readonly ProcExec[];
  /** Times the kernel dropped events (ENOBUFS) in this drain: > 0 means "rescan /proc now". */
  readonly overruns: number;
  /** Exec events read since the previous batch (batches without candidates are not sent). */
  readonly received: number;
  /** Of those, the ones dropped in C (comm not a target, process already gone). */
  readonly filtered: number;
  /** CLOCK_REALTIME ms when the drain began (the exit watcher's `detectedAtMs` clock). */
  readonly detectedAtMs: number;
  /** A receive failure (`syscall: 'recv'`) other than an overrun; draining goes on next wake-up. */
  readonly error?: SystemError;
}

export interface ProcEventsOptions {
  /** Executable names (comm is matched on their first 15 bytes). Empty: every exec is a candidate. */
  readonly targets: readonly string[];
  /** Receive buffer to ask for (the kernel doubles it, and has a floor); default: the kernel's default. */
  readonly rcvbufBytes?: number;
  /** Ask the kernel (6.6+) to send exec events only. Default true; the handle says whether it does. */
  readonly kernelFilter?: boolean;
  /**
   * Coalescing, an integer in [0, 1000] ms; default DEFAULT_HOLD_OFF_MS (5). An exec after a quiet
   * spell is read at once; once execs follow each other closer than this, the socket is drained
   * once per `holdOffMs` until a drain finds none, so an exec in a stream waits at most this long.
   * 0 turns coalescing off (one watcher wake-up per exec).
   */
  readonly holdOffMs?: number;
}

/** The connector's counters, cumulative since it opened (see NativeProcEventsStats). */
export interface ProcEventsStats {
  /** Exec events read. */
  readonly received: number;
  /** Of those, dropped in C (comm not a target, process already gone). */
  readonly filtered: number;
  /** Candidates handed to JS (entries of the batches' `execs`). */
  readonly crossed: number;
  /** Times the kernel dropped events (ENOBUFS). */
  readonly overruns: number;
  /** Watcher-thread wake-ups for the socket (each a drain); a quiet socket causes none. */
  readonly drains: number;
}

export interface ProcEventsHandle extends Disposable {
  /** The kernel sends this socket exec events only (6.6+). */
  readonly kernelFilter: boolean;
  /** The BPF socket filter (exec datagrams only) is attached: non-exec events never wake the thread. */
  readonly socketFilter: boolean;
  /** The receive buffer the kernel granted (SO_RCVBUF as read back). */
  readonly rcvbufBytes: number;
  /** The coalescing hold-off in effect, ms. */
  readonly holdOffMs: number;
  /** Replace the targets without reopening (e.g. on SIGHUP); applies from the next drain. No-op once closed. */
  setTargets(targets: readonly string[]): void;
  /**
   * The counters, cumulative since open, read from the addon on each call (cheap: five atomic
   * loads): the source of truth for metrics, since they move with every drain, whether or not a
   * batch crossed. After `close()`: the values as of the close, frozen.
   */
  stats(): ProcEventsStats;
  /** Stop: no batch is delivered once this returns, and the event loop is no longer held. Idempotent. */
  close(): void;
}

export type ProcEventsProbe =
  | { ok: true; kernelFilter: boolean; socketFilter: boolean }
  | { ok: false; error: { code: string; syscall?: string; message: string } };

const MAX_RCVBUF = 2 ** 31 - 1;

function nativeOrThrow(): Native {
  const r = loadNative();
  if (!r.available) {
    throw Object.assign(new Error(`the process connector needs the native addon: ${r.reason}`), {
      code: 'ERR_NATIVE_UNAVAILABLE',
    });
  }
  return r.native;
}

/** Validated names, deduplicated on the comm they would match. */
function targetList(targets: readonly string[]): string[] {
  if (!Array.isArray(targets)) throw new TypeError('openProcEvents: targets must be an array of names');
  const seen = new Map<string, string>();
  for (const t of targets) {
    if (typeof t !== 'string' || t === '' || t.includes('\0')) {
      throw new TypeError(`openProcEvents: a target must be a non-empty string without NUL (got ${JSON.stringify(t)})`);
    }
    if (!seen.has(commOf(t))) seen.set(commOf(t), t);
  }
  return [...seen.values()];
}

function toBatch(b: NativeProcEventsBatch): ProcEventsBatch {
  const out: {
    execs: ProcExec[]; overruns: number; received: number; filtered: number; detectedAtMs: number; error?: SystemError;
  } = { execs: b.execs, overruns: b.overruns, received: b.received, filtered: b.filtered, detectedAtMs: b.detectedAtMs };
  if (b.error) out.error = new SystemError(b.error.errno, b.error.syscall);
  return out;
}

function toStats(s: NativeProcEventsStats | null): ProcEventsStats | null {
  return s && { received: s.received, filtered: s.filtered, crossed: s.crossed, overruns: s.overruns, drains: s.drains };
}

/**
 * Open the process connector. Throws SystemError: `EPERM` (`bind`, before 6.6 without
 * CAP_NET_ADMIN), `EPROTONOSUPPORT` (`socket`: no connector), `ECONNREFUSED` (`sendto`: a
 * non-initial network namespace), `ETIMEDOUT` (`proc_connector_ack`: the kernel never acked, as in
 * a non-initial user or pid namespace), `EBUSY` (`procEventsOpen`: this thread has one open
 * already); an Error with code `ERR_NATIVE_UNAVAILABLE` without the addon; TypeError for bad
 * options. Blocks until the kernel acks (at once normally, at most ~1.25 s).
 *
 * `onBatch` runs on the JS thread, once per drain that has candidates, an overrun or an error.
 * It should not throw (a throw is an 'uncaughtException', like a throwing timer). Counters for
 * metrics: `handle.stats()`.
 *
 * Only exec events after this returns are reported: scan /proc once after opening.
 */
export function openProcEvents(options: ProcEventsOptions, onBatch: (batch: ProcEventsBatch) => void): ProcEventsHandle {
  const targets = targetList(options.targets);
  const rcvbufBytes = options.rcvbufBytes ?? 0;
  const kernelFilter = options.kernelFilter ?? true;
  if (!Number.isInteger(rcvbufBytes) || rcvbufBytes < 0 || rcvbufBytes > MAX_RCVBUF) {
    throw new TypeError(`openProcEvents: rcvbufBytes must be an integer in [0, ${MAX_RCVBUF}] (got ${rcvbufBytes})`);
  }
  if (typeof kernelFilter !== 'boolean') throw new TypeError('openProcEvents: kernelFilter must be a boolean');
  const holdOffMs = options.holdOffMs ?? DEFAULT_HOLD_OFF_MS;
  if (!Number.isInteger(holdOffMs) || holdOffMs < 0 || holdOffMs > MAX_HOLD_OFF_MS) {
    throw new TypeError(`openProcEvents: holdOffMs must be an integer in [0, ${MAX_HOLD_OFF_MS}] (got ${holdOffMs})`);
  }
  if (typeof onBatch !== 'function') throw new TypeError('openProcEvents: onBatch must be a function');
  const native = nativeOrThrow();
  const opened = native.procEventsOpen(targets, rcvbufBytes, kernelFilter, (b) => onBatch(toBatch(b)), holdOffMs);
  let open = true;
  let last: ProcEventsStats = { received: 0, filtered: 0, crossed: 0, overruns: 0, drains: 0 };
  const stats = (): ProcEventsStats => {
    if (open) last = toStats(native.procEventsStats(opened.id)) ?? last;
    return last;
  };
  const close = (): void => {
    if (!open) return;
    stats(); // the final values: the addon has none once closed
    open = false;
    native.procEventsClose(opened.id);
  };
  return {
    kernelFilter: opened.kernelFilter,
    socketFilter: opened.socketFilter,
    rcvbufBytes: opened.rcvbufBytes,
    holdOffMs: opened.holdOffMs,
    setTargets(next) {
      const list = targetList(next);
      if (open) native.procEventsSetTargets(opened.id, list);
    },
    stats,
    close,
    [Symbol.dispose]: close,
  };
}

/**
 * Can this process use the connector, and does the kernel filter for us? Opens and closes it
 * once (for `ffrtmp doctor`). Never throws for a refusal: `{ ok: false, error }` carries the
 * SystemError's code, syscall and message (`ERR_NATIVE_UNAVAILABLE` without the addon).
 */
export function probeProcEvents(): ProcEventsProbe {
  try {
    const h = openProcEvents({ targets: [] }, () => {});
    h.close();
    return { ok: true, kernelFilter: h.kernelFilter, socketFilter: h.socketFilter };
  } catch (e) {
    if (isSystemErrorLike(e)) return { ok: false, error: { code: e.code, syscall: e.syscall, message: e.message } };
    const code = (e as { code?: unknown } | null)?.code;
    if (e instanceof Error && code === 'ERR_NATIVE_UNAVAILABLE') return { ok: false, error: { code, message: e.message } };
    throw e;
  }
}
