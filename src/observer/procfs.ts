import { closeSync, openSync, readSync } from 'node:fs';

/**
 * /proc readers shared by the polling observer (identity: PID + start time, so a reused PID is
 * not mistaken for the workload) and by the journal (the `started` record's identity).
 */

/** The one buffer /proc files are read into (grown when a file does not fit). */
let scratch = Buffer.allocUnsafe(8192);

/**
 * A /proc file's whole text (latin1: byte for byte), read into one reused buffer. Not
 * `readFileSync`: a /proc file reports size 0, so Node reads it through a fresh 64 KB buffer each
 * time, malloc'd outside the JS heap and freed only by a later GC; an attach of 1000 processes
 * reads thousands of them in a burst, and glibc keeps the freed blocks (about 14 MB of RSS at
 * N = 1000, docs/benchmarks.md "Density"). Throws what open/read throw (ENOENT, ESRCH).
 */
export function readProcText(path: string): string {
  const fd = openSync(path, 'r');
  try {
    let n = 0;
    for (;;) {
      if (n === scratch.length) {
        const bigger = Buffer.allocUnsafe(scratch.length * 2);
        scratch.copy(bigger, 0, 0, n);
        scratch = bigger;
      }
      const r = readSync(fd, scratch, n, scratch.length - n, null);
      if (r === 0) break;
      n += r;
    }
    return scratch.toString('latin1', 0, n);
  } finally {
    closeSync(fd);
  }
}

export interface ProcStat {
  /** Single-letter state: R, S, D, Z (zombie), X (dead), T, t, I, ... */
  state: string;
  /** Field 22: start time in clock ticks since boot, as a decimal string (may exceed 2^53 in theory). */
  startTimeTicks: string;
  /** Field 6: session id. */
  session: number;
  /** Field 4: parent pid. */
  ppid: number;
  /** Field 9: the kernel's PF_* flags (PF_KTHREAD = 0x00200000 marks a kernel thread). */
  flags: number;
}

/** PF_KTHREAD from include/linux/sched.h: the task is a kernel thread. */
export const PF_KTHREAD = 0x00200000;

/**
 * Parses /proc/<pid>/stat. The comm field (2) is in parentheses and may contain spaces and
 * parentheses itself, so fields are counted from the LAST `)`. Returns null when the process
 * does not exist (or is invisible to us, e.g. hidepid): callers decide what that means.
 */
export function readProcStat(pid: number, procRoot = '/proc'): ProcStat | null {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = readProcText(`${procRoot}/${pid}/stat`);
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // After ") ": field 3 (state) is index 0.
  const rest = text.slice(close + 2).trimEnd().split(' ');
  const field = (n: number): string => rest[n - 3] ?? '';
  return {
    state: field(3),
    ppid: Number(field(4)),
    session: Number(field(6)),
    flags: Number(field(9)),
    startTimeTicks: field(22),
  };
}

/** Field 22 of /proc/<pid>/stat (start time in ticks since boot), or null if there is no such process. */
export function readStartTime(pid: number): string | null {
  return readProcStat(pid)?.startTimeTicks ?? null;
}

/**
 * The `Pid:` line of /proc/self/fdinfo/<pidfd>: the pid the pidfd refers to, `-1` once the
 * process has been reaped, `0` when it is in a pid namespace we cannot see. Null when the fd
 * is not a pidfd or the kernel predates the field (5.3 has it).
 */
export function pidfdPid(pidfd: number): number | null {
  let text: string;
  try {
    text = readProcText(`/proc/self/fdinfo/${pidfd}`);
  } catch {
    return null;
  }
  const m = /^Pid:\s*(-?\d+)$/m.exec(text);
  return m ? Number(m[1]) : null;
}
