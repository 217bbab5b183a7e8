/**
 * Errors from the native addon, made Node-shaped.
 *
 * The addon throws `{ errno: 3, syscall: 'pidfd_open', path? }` (a NativeErrnoError:
 * errno as data, positive, as the kernel returned it). Callers should see what `fs`
 * gives them: `code: 'ESRCH'`, `errno: -3`, `message: 'ESRCH: no such process, pidfd_open'`,
 * so `if (err.code === 'ESRCH')` works the same everywhere.
 */
import { constants as osConstants } from 'node:os';
import { getSystemErrorMap, getSystemErrorName } from 'node:util';

import type { NativeErrnoError } from './binding';

/**
 * libuv's table (what `util.getSystemErrorMap()` returns) lacks some errnos we can meet,
 * e.g. ECHILD from waitid on a non-child and ENOEXEC from execve. Same wording style.
 */
const EXTRA_DESCRIPTIONS: Readonly<Record<string, string>> = {
  EBADMSG: 'bad message',
  ECHILD: 'no child processes',
  EDEADLK: 'resource deadlock avoided',
  EDOM: 'numerical argument out of domain',
  EDQUOT: 'disk quota exceeded',
  EIDRM: 'identifier removed',
  EINPROGRESS: 'operation now in progress',
  EMULTIHOP: 'multihop attempted',
  ENETRESET: 'connection reset by network',
  ENOEXEC: 'exec format error',
  ENOLCK: 'no locks available',
  ENOLINK: 'link has been severed',
  ENOMSG: 'no message of desired type',
  ENOSR: 'out of streams resources',
  ENOSTR: 'device not a stream',
  ESTALE: 'stale file handle',
  ETIME: 'timer expired',
};

let errnoNames: Map<number, string> | undefined;

/** `3` → `['ESRCH', 'no such process']`; unknown numbers keep Node's own wording. */
function describe(positiveErrno: number): [code: string, description: string] {
  const fromUv = getSystemErrorMap().get(-positiveErrno);
  if (fromUv) return fromUv;
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(osConstants.errno)) {
      if (!errnoNames.has(value)) errnoNames.set(value, name);
    }
  }
  const name = errnoNames.get(positiveErrno);
  if (name) return [name, EXTRA_DESCRIPTIONS[name] ?? 'unknown error'];
  try {
    return [getSystemErrorName(-positiveErrno), 'unknown error'];
  } catch {
    // getSystemErrorName throws for 0 and non-int32 values
    return [`Unknown system error ${-positiveErrno}`, 'unknown error'];
  }
}

/** A failed system call, shaped like the errors `fs`/`child_process` throw. */
export class SystemError extends Error {
  /** `'ESRCH'` */
  readonly code: string;
  /** Negative, Node's convention: `-3` for ESRCH. */
  readonly errno: number;
  /** `'pidfd_open'`, `'execve'`, ... */
  readonly syscall: string;
  // `declare`: no own `path` property at all when there is none (class fields would define it as undefined).
  declare readonly path?: string;

  /** @param errno the errno the kernel returned; the sign is ignored (3 and -3 both mean ESRCH). */
  constructor(errno: number, syscall: string, path?: string, options?: ErrorOptions) {
    const positiveErrno = Math.abs(errno);
    const [code, description] = describe(positiveErrno);
    // Node: `<CODE>: <description>, <syscall>` and ` '<path>'` when there is one.
    super(`${code}: ${description}, ${syscall}${path !== undefined ? ` '${path}'` : ''}`, options);
    this.name = 'SystemError';
    this.code = code;
    this.errno = -positiveErrno;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
  }
}

/** The raw shape the addon throws (positive errno, syscall name). */
export function isNativeErrnoError(e: unknown): e is NativeErrnoError {
  if (typeof e !== 'object' || e === null || e instanceof SystemError) return false;
  const o = e as { errno?: unknown; syscall?: unknown; path?: unknown };
  return (
    typeof o.errno === 'number' &&
    Number.isInteger(o.errno) &&
    o.errno > 0 &&
    typeof o.syscall === 'string' &&
    (o.path === undefined || typeof o.path === 'string')
  );
}

/**
 * NativeErrnoError → SystemError (keeping the native call's stack); anything else
 * (TypeError "Usage: ...", SystemError, foreign values) is returned unchanged.
 */
export function toSystemError(e: unknown): unknown {
  if (!isNativeErrnoError(e)) return e;
  const err = new SystemError(e.errno, e.syscall, e.path);
  if (typeof e.stack === 'string') {
    const nl = e.stack.indexOf('\n');
    if (nl >= 0) err.stack = `${err.name}: ${err.message}${e.stack.slice(nl)}`;
  }
  return err;
}

/**
 * A Node-style system error from anywhere (`fs`, `child_process`, or our SystemError):
 * string `code`, numeric `errno` (negative in Node's convention), `syscall`.
 */
export function isSystemErrorLike(
  e: unknown,
): e is { code: string; errno: number; syscall: string; path?: string; message: string } {
  if (typeof e !== 'object' || e === null) return false;
  const o = e as { code?: unknown; errno?: unknown; syscall?: unknown };
  return typeof o.code === 'string' && typeof o.errno === 'number' && typeof o.syscall === 'string';
}
