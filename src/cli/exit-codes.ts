import { signalNumber } from '../model/exit-status';
import type { Result } from '../model/result';
import type { Diagnosis } from '../core/doctor';
import type { RecoverReport } from '../recover/recover';

/**
 * Exit statuses of the `ffrtmp` command: one pure function per command, of what the command's
 * work returned (docs/results.md and the README's tables). The wrapper is transparent for `run`:
 * a script sees the workload's status.
 */
export const EXIT = {
  OK: 0,
  /** attach: a PID does not exist (nothing was attached). */
  NO_SUCH_PROCESS: 1,
  /** Bad flags, job ids, PIDs, paths: nothing was started. */
  USAGE: 2,
  /** The platform failed (spawn failed for EAGAIN/ENOMEM, observer not installed, status lost). */
  PLATFORM: 125,
  /** The command exists but could not be executed (EACCES, ENOEXEC, bad directory). */
  NOT_EXECUTABLE: 126,
  /** The command was not found. */
  NOT_FOUND: 127,
} as const;

/** 128 + n for a signal name, as shells report a death by signal. */
export function signalExit(signal: string): number {
  return 128 + (signalNumber(signal) ?? 0);
}

/**
 * `ffrtmp run`: the workload's exit code, or 128 + its signal; 127/126 when it could not be
 * executed; 125 for a platform failure; 128 + the wrapper's own signal when the wrapper was
 * told to stop and detached (the workload is still running).
 */
export function runExitCode(r: Result, detachedBy?: string): number {
  switch (r.platform_sla_reason) {
    case 'detached_workload_continues':
      return signalExit(detachedBy ?? 'SIGTERM');
    case 'workload_not_startable':
      return r.spawn_error?.code === 'ENOENT' ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE;
    default:
      break;
  }
  if (r.exit_code !== null) return r.exit_code;
  if (r.signal !== null) return signalExit(r.signal);
  return EXIT.PLATFORM;
}

/**
 * `ffrtmp attach`: it does not own the workloads, so it does not mirror their statuses:
 * 0 when every process was observed to completion, 125 when any Result is a platform
 * violation, 128 + the wrapper's signal when it detached.
 */
export function attachExitCode(results: readonly Result[], detachedBy?: string): number {
  if (results.some((r) => !r.platform_sla_compliant)) return EXIT.PLATFORM;
  if (detachedBy !== undefined) return signalExit(detachedBy);
  return EXIT.OK;
}

/**
 * `ffrtmp doctor`: 1 when a check is `missing` (a function is lost: no native addon or
 * pidfd_open, no cgroups, a controller or a usable cgroup root); 0 otherwise, warnings included
 * (a detail done another way, e.g. no CLONE_INTO_CGROUP: the child joins its cgroup before exec).
 */
export function doctorExitCode(d: Pick<Diagnosis, 'checks'>): number {
  return d.checks.some((c) => c.severity === 'missing') ? 1 : EXIT.OK;
}

/**
 * `ffrtmp recover`: 128 + the signal when detached; 125 when a Result could not be persisted;
 * else 0 (every orphan settled, or left to its live adopter).
 */
export function recoverExitCode(report: Pick<RecoverReport, 'outcomes'>, detachedBy?: string): number {
  if (detachedBy !== undefined) return signalExit(detachedBy);
  if (report.outcomes.some((o) => o.kind === 'not_persisted')) return EXIT.PLATFORM;
  return EXIT.OK;
}

/** `ffrtmp serve`: 0 after a clean stop (a signal), 125 when it could not listen. */
export function serveExitCode(outcome: 'stopped' | 'listen_failed'): number {
  return outcome === 'stopped' ? EXIT.OK : EXIT.PLATFORM;
}

/**
 * `ffrtmp watch`: 0 after a clean stop (SIGINT/SIGTERM: every governed workload continues, its
 * job detached for the next watch or recover), 125 when it could not start (the process connector
 * was required and cannot be used here, or the endpoint could not listen). A bad configuration is
 * a usage error (2), thrown before anything starts.
 */
export function watchExitCode(outcome: 'stopped' | 'start_failed'): number {
  return outcome === 'stopped' ? EXIT.OK : EXIT.PLATFORM;
}

/** `ffrtmp jobs show <id>`: 0 when the job is in the journal (a Result or a started record), else 1. */
export function jobsShowExitCode(found: boolean): number {
  return found ? EXIT.OK : 1;
}

/** What a thrown error means for the status: usage 2, no such process 1, anything else 125. */
export function errorExitCode(err: unknown): number {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === 'ERR_USAGE' || code === 'ERR_REFUSED') return EXIT.USAGE;
  if (code === 'ERR_NO_SUCH_PROCESS') return EXIT.NO_SUCH_PROCESS;
  return EXIT.PLATFORM;
}

/** `ffrtmp agent`: 0 after a clean stop (a signal: running workloads continue, taken back by the next agent); 125 when it could not listen (nothing taken). */
export function agentExitCode(outcome: 'stopped' | 'listen_failed'): number {
  return outcome === 'stopped' ? EXIT.OK : EXIT.PLATFORM;
}

/** What `ffrtmp submit --wait` learnt of a job's end (src/agent/submit.ts WaitOutcome, reduced). */
export type SubmitEnd =
  | { readonly kind: 'result'; readonly result: Result }
  | { readonly kind: 'legacy'; readonly exit_code: number | null; readonly signal: string | null; readonly spawn_error_code?: string }
  /** Failed without running: bad job data (`invalid`), or anything else (refused, stalled, lost). */
  | { readonly kind: 'not_run'; readonly invalid: boolean };

/**
 * `ffrtmp submit`: 0 once queued without --wait. With --wait, the workload's status as for `run`
 * (a Result → runExitCode; the legacy path: its exit code, 128 + its signal, 127/126 when it could
 * not start); 2 when the agent refused the job's data; 125 when it failed without running or its
 * status is unknown; 128 + the signal when the wait was interrupted (the job goes on). 125 when
 * Redis did not answer within --connect-timeout (nothing queued; with --wait after queuing: the
 * job goes on).
 */
export function submitExitCode(end: SubmitEnd | 'queued' | 'unreachable', interruptedBy?: string): number {
  if (interruptedBy !== undefined) return signalExit(interruptedBy);
  if (end === 'queued') return EXIT.OK;
  if (end === 'unreachable') return EXIT.PLATFORM;
  switch (end.kind) {
    case 'result':
      return runExitCode(end.result);
    case 'legacy':
      if (end.spawn_error_code !== undefined) return end.spawn_error_code === 'ENOENT' ? EXIT.NOT_FOUND : EXIT.NOT_EXECUTABLE;
      if (end.exit_code !== null) return end.exit_code;
      if (end.signal !== null) return signalExit(end.signal);
      return EXIT.PLATFORM;
    case 'not_run':
      return end.invalid ? EXIT.USAGE : EXIT.PLATFORM;
  }
}
