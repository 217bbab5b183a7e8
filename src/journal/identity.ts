/**
 * Process identity for the journal: (pid, start time in clock ticks since boot).
 *
 * A pid alone can be reused; the pair cannot (within one boot). Used to record which wrapper owns
 * a job and to decide, after a crash, whether a recorded process is still the same process.
 */
import * as fs from 'node:fs';
import type { ProcessIdentity } from './types';

interface ProcStat {
  /** Field 3: R, S, D, Z, T, ... */
  readonly state: string;
  /** Field 22 as a decimal string. */
  readonly startTimeTicks: string;
}

/**
 * Fields 3 and 22 of /proc/<pid>/stat, or null when the process does not exist or the file cannot
 * be read/parsed. The comm field (2) may contain spaces and parentheses, so fields are counted from
 * the last ')'.
 */
function readProcStat(pid: number, procRoot: string): ProcStat | null {
  if (!Number.isSafeInteger(pid) || pid <= 0) return null;
  let text: string;
  try {
    text = fs.readFileSync(`${procRoot}/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  // After ") " come fields 3, 4, ...; field N is at index N - 3.
  const rest = text.slice(close + 2).split(' ');
  const state = rest[0];
  const start = rest[19];
  if (state === undefined || start === undefined || !/^\d+$/.test(start)) return null;
  return { state, startTimeTicks: start };
}

/** Field 22 (starttime) of /proc/<pid>/stat as a decimal string, or null (gone / unreadable). */
export function readStartTimeTicks(pid: number, procRoot = '/proc'): string | null {
  return readProcStat(pid, procRoot)?.startTimeTicks ?? null;
}

/** The identity of a process now, or an identity with a null start time when it is gone. */
export function identityOf(pid: number, procRoot = '/proc'): ProcessIdentity {
  return { pid, start_time_ticks: readStartTimeTicks(pid, procRoot) };
}

/** This process's own identity (the wrapper that owns the jobs it records). */
export function ownIdentity(): ProcessIdentity {
  return identityOf(process.pid);
}

/**
 * Is the recorded process still that very process, and not a zombie? `true` only when the pid
 * exists now, is not in state Z, and its start time equals the recorded one. An unknown recorded
 * start time is never a match: we do not guess.
 */
export function isSameProcessAlive(recorded: ProcessIdentity, procRoot = '/proc'): boolean {
  if (recorded.start_time_ticks === null) return false;
  const now = readProcStat(recorded.pid, procRoot);
  return now !== null && now.state !== 'Z' && now.startTimeTicks === recorded.start_time_ticks;
}
