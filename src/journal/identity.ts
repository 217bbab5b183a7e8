/**
 * Process identity for the journal: (pid, start time in clock ticks since boot).
 *
 * A pid alone can be reused; the pair cannot (within one boot). Used to record which wrapper owns
 * a job and to decide, after a crash, whether a recorded process is still the same process.
 */
import { readProcStat } from '../observer/procfs';
import type { ProcessIdentity } from './types';

/** Field 22 (starttime) of /proc/<pid>/stat as a decimal string, or null (gone / unreadable). */
export function readStartTimeTicks(pid: number, procRoot = '/proc'): string | null {
  const ticks = readProcStat(pid, procRoot)?.startTimeTicks;
  return ticks !== undefined && /^\d+$/.test(ticks) ? ticks : null;
}

/** The identity of a process now, or an identity with a null start time when it is gone. */
export function identityOf(pid: number, procRoot = '/proc'): ProcessIdentity {
  return { pid, start_time_ticks: readStartTimeTicks(pid, procRoot) };
}

let own: ProcessIdentity | undefined;

/** This process's own identity (the wrapper that owns the jobs it records): read once, it never changes. */
export function ownIdentity(): ProcessIdentity {
  if (own === undefined || own.pid !== process.pid || own.start_time_ticks === null) own = identityOf(process.pid);
  return own;
}

/**
 * Is the recorded process still that very process, and not a zombie? `true` only when the pid
 * exists now, is not in state Z, and its start time equals the recorded one. An unknown recorded
 * start time is never a match: we do not guess.
 */
export function isSameProcessAlive(recorded: ProcessIdentity, procRoot = '/proc'): boolean {
  if (recorded.start_time_ticks === null) return false;
  const now = readProcStat(recorded.pid, procRoot);
  return now !== null && now.state !== 'Z' && now.state !== 'X' && now.startTimeTicks === recorded.start_time_ticks;
}
