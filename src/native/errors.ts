import { getSystemErrorMap, getSystemErrorName } from 'node:util';
import type { NativeErrnoError } from './binding';

/**
 * A Node-shaped system error, as `fs` throws them: `code: 'ESRCH'`, `errno: -3` (Node's sign
 * convention), `syscall`, optional `path`, and the message `ESRCH: no such process, pidfd_open`
 * (plus ` '<path>'` when there is a path). Callers write `if (err.code === 'ESRCH')`.
 */
export class SystemError extends Error {
  readonly code: string;
  /** Negative, as in Node: -3 for ESRCH. */
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;

  /** @param errno the POSITIVE errno the kernel returned (3 for ESRCH). */
  constructor(errno: number, syscall: string, path?: string) {
    const negative = -Math.abs(errno);
    const code = safeErrorName(negative);
    const description = getSystemErrorMap().get(negative)?.[1] ?? 'unknown error';
    super(`${code}: ${description}, ${syscall}${path !== undefined ? ` '${path}'` : ''}`);
    this.name = 'SystemError';
    this.code = code;
    this.errno = negative;
    this.syscall = syscall;
    if (path !== undefined) this.path = path;
  }
}

function safeErrorName(negativeErrno: number): string {
  try {
    return getSystemErrorName(negativeErrno);
  } catch {
    return `Unknown system error ${negativeErrno}`;
  }
}

export function isNativeErrnoError(e: unknown): e is NativeErrnoError {
  return (
    typeof e === 'object' &&
    e !== null &&
    typeof (e as NativeErrnoError).errno === 'number' &&
    typeof (e as NativeErrnoError).syscall === 'string' &&
    !(e instanceof SystemError)
  );
}

/** Turns what the addon throws into a SystemError; anything else passes through unchanged. */
export function toSystemError(e: unknown): unknown {
  if (isNativeErrnoError(e)) {
    return new SystemError(e.errno, e.syscall, typeof e.path === 'string' ? e.path : undefined);
  }
  return e;
}

/** Node's own errors from fs/child_process (`errno` negative, `code`, `syscall`) as a SystemError. */
export function isSystemErrorLike(e: unknown): e is { code: string; errno: number; syscall: string; path?: string; message: string } {
  return typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string' &&
    typeof (e as { errno?: unknown }).errno === 'number' && typeof (e as { syscall?: unknown }).syscall === 'string';
}
