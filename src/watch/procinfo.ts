/**
 * What the watch daemon reads of a candidate process, and how it knows the reads are of ONE
 * process: a pidfd is opened first, /proc is read, then the pidfd must still refer to a live
 * process with the same start time. A PID that was reused in between, or a process that exited
 * (or is a zombie), yields null: it is skipped cleanly, never mistaken for another.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { loadNative } from '../native/load';
import { PF_KTHREAD, pidfdPid, readProcStat, type ProcStat } from '../observer/procfs';

export interface ProcInfo {
  readonly pid: number;
  readonly ppid: number;
  /** Field 22 of /proc/<pid>/stat: with the pid, the identity. */
  readonly startTimeTicks: string;
  /** argv[0] as the process set it ('' when the cmdline is empty). */
  readonly argv0: string;
  /** The basename of /proc/<pid>/exe, or null when it cannot be read. */
  readonly exeBase: string | null;
  /** /proc/<pid>/comm (at most 15 bytes). */
  readonly comm: string;
  /** The real uid (`Uid:` of /proc/<pid>/status). */
  readonly uid: number;
  /** The working directory, or null when it cannot be read. */
  readonly cwd: string | null;
  readonly kernelThread: boolean;
}

/** Clock ticks per second of /proc's start times (USER_HZ: 100 on every Linux ABI we run on). */
export const USER_HZ = 100;

function readText(file: string): string | null {
  try {
    return readFileSync(file, 'latin1');
  } catch {
    return null;
  }
}

function readLink(file: string): string | null {
  try {
    return readlinkSync(file);
  } catch {
    return null;
  }
}

/** `/usr/bin/ffmpeg (deleted)` → `ffmpeg`. */
function exeBasename(link: string | null): string | null {
  if (link === null) return null;
  return basename(link.endsWith(' (deleted)') ? link.slice(0, -' (deleted)'.length) : link);
}

function readUid(pid: number): number | null {
  const status = readText(`/proc/${pid}/status`);
  const m = status === null ? null : /^Uid:\s+(\d+)/m.exec(status);
  return m ? Number(m[1]) : null;
}

function alive(st: ProcStat | null): st is ProcStat {
  return st !== null && st.state !== 'Z' && st.state !== 'X' && st.state !== 'x';
}

/** Reads /proc/<pid>; null when any of it is gone (checked against `first`'s start time). */
function readAll(pid: number, first: ProcStat): Omit<ProcInfo, 'pid'> | null {
  const cmdline = readText(`/proc/${pid}/cmdline`);
  const comm = readText(`/proc/${pid}/comm`);
  const uid = readUid(pid);
  if (cmdline === null || comm === null || uid === null) return null;
  const nul = cmdline.indexOf('\0');
  return {
    ppid: first.ppid,
    startTimeTicks: first.startTimeTicks,
    argv0: nul < 0 ? cmdline : cmdline.slice(0, nul),
    exeBase: exeBasename(readLink(`/proc/${pid}/exe`)),
    comm: comm.replace(/\n$/, ''),
    uid,
    cwd: readLink(`/proc/${pid}/cwd`),
    kernelThread: (first.flags & PF_KTHREAD) !== 0,
  };
}

/**
 * One consistent look at a process, or null when it is gone, a zombie, or no longer the process
 * whose start time is `expectTicks` (when given). Never throws.
 */
export function inspect(pid: number, expectTicks?: string): ProcInfo | null {
  const loaded = loadNative();
  let pidfd = -1;
  if (loaded.available) {
    try {
      pidfd = loaded.native.pidfdOpen(pid);
    } catch {
      return null; // ESRCH: gone already (EMFILE and friends: try again at the next look)
    }
  }
  try {
    const first = readProcStat(pid);
    if (!alive(first) || (expectTicks !== undefined && first.startTimeTicks !== expectTicks)) return null;
    const rest = readAll(pid, first);
    if (rest === null) return null;
    // Still the same live process? The pidfd cannot move to another process; without one, the
    // start time read again must not have changed.
    const again = readProcStat(pid);
    if (!alive(again) || again.startTimeTicks !== first.startTimeTicks) return null;
    if (pidfd >= 0 && pidfdPid(pidfd) !== pid) return null;
    return { pid, ...rest };
  } finally {
    if (pidfd >= 0 && loaded.available) loaded.native.closeFd(pidfd);
  }
}

/** Seconds since boot (/proc/uptime), the clock of start times. */
export function uptimeSeconds(): number {
  const t = readText('/proc/uptime');
  return t === null ? 0 : Number(t.split(' ')[0]);
}

/** How long the process has run, in ms, from its start time (10 ms resolution). */
export function ageMs(startTimeTicks: string, uptime: number = uptimeSeconds()): number {
  return Math.max(0, uptime * 1000 - (Number(startTimeTicks) * 1000) / USER_HZ);
}

/** The command a process is a target as: its argv[0]'s basename, else its executable's, else null. */
export function targetName(info: Pick<ProcInfo, 'argv0' | 'exeBase'>, targets: ReadonlySet<string>): string | null {
  const a = basename(info.argv0);
  if (a !== '' && targets.has(a)) return a;
  if (info.exeBase !== null && targets.has(info.exeBase)) return info.exeBase;
  return null;
}

/** The PIDs in /proc now (numeric entries), in no particular order. */
export function listPids(): number[] {
  const out: number[] = [];
  let names: string[];
  try {
    names = readdirSync('/proc');
  } catch {
    return out;
  }
  for (const n of names) {
    const c = n.charCodeAt(0);
    if (c >= 48 && c <= 57) out.push(Number(n));
  }
  return out;
}

/** The parent chain of `pid` (its parent first), up to PID 1, bounded. */
export function ancestors(pid: number, firstParent?: number): number[] {
  const out: number[] = [];
  let p = firstParent ?? readProcStat(pid)?.ppid ?? 0;
  for (let hops = 0; p > 1 && hops < 1024; hops++) {
    out.push(p);
    p = readProcStat(p)?.ppid ?? 0;
  }
  return out;
}
