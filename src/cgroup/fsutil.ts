/**
 * The few filesystem primitives the cgroup code uses, in the form the kernel's cgroup
 * interface files expect:
 *
 * - a write is `open(O_WRONLY)` + exactly one `write(2)` + `close` (no O_CREAT, no O_TRUNC:
 *   interface files exist or the controller is missing; the kernel parses one write as one
 *   command, so a value is never split across two writes);
 * - errors keep Node's `code` (`EACCES`, `EBUSY`, ...) so callers can branch on errno.
 */
import * as fs from 'node:fs';

/** Node's system-error shape (what `fs` throws). */
export interface ErrnoLike {
  code: string;
  message: string;
}

export function errnoCode(e: unknown): string {
  if (typeof e === 'object' && e !== null && typeof (e as { code?: unknown }).code === 'string') {
    return (e as { code: string }).code;
  }
  return 'EUNKNOWN';
}

export function errMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Thrown when write(2) wrote fewer bytes than asked (never seen on cgroupfs; checked anyway). */
export class ShortWriteError extends Error {
  readonly code = 'ESHORTWRITE';
  constructor(path: string, wrote: number, wanted: number) {
    super(`short write to ${path}: ${wrote} of ${wanted} bytes`);
  }
}

/** One write(2) of `data` into an existing file. Throws the fs error (with `code`). */
/** (libuv opens every file O_CLOEXEC.) */
export function writeOnce(path: string, data: string): void {
  const buf = Buffer.from(data, 'utf8');
  const fd = fs.openSync(path, fs.constants.O_WRONLY);
  try {
    const n = fs.writeSync(fd, buf, 0, buf.length);
    if (n !== buf.length) throw new ShortWriteError(path, n, buf.length);
  } finally {
    fs.closeSync(fd);
  }
}

/** Reads a small text file; null when it does not exist (ENOENT/ENOTDIR/ENODEV). Other errors throw. */
export function readTextOrNull(path: string): string | null {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch (e) {
    const code = errnoCode(e);
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ENODEV') return null;
    throw e;
  }
}

/** `key value` lines (cpu.stat, memory.events, memory.oom_control) → map of numbers. */
export function parseFlatKeyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\S+)\s+(-?\d+)\s*$/.exec(line);
    if (m) out.set(m[1]!, Number(m[2]));
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Lines of a cgroup.procs file as PIDs. */
export function readPids(procsPath: string): number[] | null {
  const text = readTextOrNull(procsPath);
  if (text === null) return null;
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => Number(l.trim()));
}

let cachedPageSize: number | null = null;

/**
 * The kernel page size (memory limits are rounded down to it). Node does not expose
 * sysconf(_SC_PAGESIZE); /proc/self/smaps states it per mapping (`KernelPageSize: 4 kB`).
 */
export function pageSize(): number {
  if (cachedPageSize !== null) return cachedPageSize;
  let size = 4096;
  try {
    const fd = fs.openSync('/proc/self/smaps', 'r');
    try {
      const buf = Buffer.alloc(4096);
      const n = fs.readSync(fd, buf, 0, buf.length, null);
      const m = /KernelPageSize:\s+(\d+)\s+kB/.exec(buf.subarray(0, n).toString('latin1'));
      if (m) size = Number(m[1]) * 1024;
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* keep 4096 */
  }
  cachedPageSize = size;
  return size;
}
