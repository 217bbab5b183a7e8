/**
 * Process identity and /proc reads for placement and verification.
 *
 * A PID alone is not an identity (it is recycled once the process is reaped). With a pidfd
 * opened before we act, `/proc/self/fdinfo/<pidfd>` tells whether that very process still
 * has a PID: `Pid: -1` once it was reaped. While the pidfd says "alive", the PID cannot have
 * been reused, so what /proc/<pid>/... showed us in between was about our process (the
 * pattern of systemd's pidref_verify). A zombie still has its PID but cannot be moved
 * between cgroups: treated as exited.
 *
 * Without a pidfd (no addon) the fallback identity is the start time (field 22 of
 * /proc/<pid>/stat), taken when the reference was made.
 */
import * as fs from 'node:fs';
import { pidfdPid, readProcStat } from '../observer/procfs';
import { parseProcCgroup, type ProcCgroupEntry } from './detect';

export interface ProcessRef {
  readonly pid: number;
  /** A pidfd for `pid`, opened before anything else; null when pidfds are unavailable. */
  readonly pidfd: number | null;
  /** Start time in clock ticks since boot, for the no-pidfd fallback. */
  readonly startTime?: string;
}

export { pidfdPid };

/** State letter and start time from /proc/<pid>/stat (one parser: observer/procfs). */
function procStat(pid: number): { state: string; startTime: string } | null {
  const st = readProcStat(pid);
  return st === null ? null : { state: st.state || '?', startTime: st.startTimeTicks };
}

/** A reference for a PID we have no pidfd for (captures the start time now). */
export function refWithoutPidfd(pid: number): ProcessRef {
  const st = procStat(pid);
  return { pid, pidfd: null, ...(st ? { startTime: st.startTime } : {}) };
}

/** True when the referenced process exited (reaped, zombie, or replaced by another PID owner). */
export function isGone(ref: ProcessRef): boolean {
  if (ref.pidfd !== null) {
    const p = pidfdPid(ref.pidfd);
    if (p === -1) return true;
    if (p !== null && p !== ref.pid) return true; // another pid namespace view: be strict
  }
  const st = procStat(ref.pid);
  if (st === null) return true;
  if (st.state === 'Z' || st.state === 'X') return true;
  if (ref.pidfd === null && ref.startTime !== undefined && st.startTime !== ref.startTime) return true;
  return false;
}

export function readProcCgroup(pid: number): ProcCgroupEntry[] | null {
  try {
    return parseProcCgroup(fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8'));
  } catch {
    return null;
  }
}

/** VmRSS of a process in bytes, null when unknown (exited, kernel thread). */
export function processMemoryBytes(pid: number): number | null {
  try {
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}
