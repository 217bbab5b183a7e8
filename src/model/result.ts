/**
 * The Result: one immutable record per job, the source of truth for every metric, log line
 * and violation sample (docs/results.md: the job-level truth every other view is derived from).
 *
 * Written once (`freezeResult`), never updated, never recomputed. Field names are the JSON
 * names: the object is serialised as it is.
 */
import type { CgroupReport, Usage } from './cgroup-report';
import type { SlaReason } from './sla';

export type Mode = 'run' | 'attach';

/**
 * Where the exit status came from:
 * - `waitid`: we are the parent and reaped the child ourselves (the wait(2) family);
 * - `pidfd_info`: a non-child, read with ioctl(PIDFD_GET_INFO, PIDFD_INFO_EXIT) (Linux 6.15+);
 * - `keeper`: the workload's parent, `ffrtmp-keeper`, reaped it and wrote its status into the
 *   exit file (docs/native.md "keeper"): as exact as `waitid`, and it survives the wrapper;
 * - `unknown`: nobody could tell us; `exit_code` and `signal` are then both null.
 */
export type ExitSource = 'waitid' | 'pidfd_info' | 'keeper' | 'unknown';

export const EXIT_SOURCES: readonly ExitSource[] = ['waitid', 'pidfd_info', 'keeper', 'unknown'];

/** How a process ended, normalised from whatever the kernel gave us. */
export interface ExitStatus {
  /** The exit code when the process called exit(); null when killed by a signal or unknown. */
  readonly exit_code: number | null;
  /** The signal name (`SIGKILL`) when killed by a signal; null otherwise or when unknown. */
  readonly signal: string | null;
  readonly exit_source: ExitSource;
}

export const UNKNOWN_EXIT: ExitStatus = Object.freeze({ exit_code: null, signal: null, exit_source: 'unknown' });

/** A failure to start the workload, as data (Node's SystemError fields). */
export interface SpawnError {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
  readonly path?: string;
  readonly message: string;
}

/**
 * `run` only: whether the workload's parent was `ffrtmp-keeper` (docs/native.md "keeper").
 * `{ pid }` normally; `{ pid: null, why }` when it was started directly (`--no-keeper`, the
 * binary missing, no journal to keep the exit file beside, the polling backend); `problem` when
 * the keeper could not do its job (killed before the workload ended, exit file not written), and
 * the exit status then came from elsewhere (or is unknown).
 */
export interface KeeperReport {
  readonly pid: number | null;
  readonly why?: string;
  readonly problem?: string;
}

export interface Result extends ExitStatus {
  readonly job_id: string;
  /** The workload's PID; null only when it never started (spawn failed). */
  readonly pid: number | null;
  readonly mode: Mode;
  readonly intent?: string;
  /** ISO 8601 with milliseconds: when governance began (spawn, or the attach itself). */
  readonly start_time: string;
  /** ISO 8601 with milliseconds: when the exit was detected, or when the wrapper detached. */
  readonly end_time: string;
  /** end_time − start_time in seconds (millisecond resolution). */
  readonly processing_seconds: number;
  readonly platform_sla_compliant: boolean;
  readonly platform_sla_reason: SlaReason;
  /** Present only when the workload could not be started. */
  readonly spawn_error?: SpawnError;
  /**
   * What the job cgroup measured, read before it was removed (docs/cgroups.md): CPU seconds,
   * peak memory, OOM kills; a field is null when it could not be measured. Null when there was
   * no job cgroup; absent when cgroups were not involved at all.
   */
  readonly usage?: Usage | null;
  /** Where the job was governed and how: leaves, every limit requested vs effective, problems. */
  readonly cgroup?: CgroupReport;
  /** `run`: the keeper, or why there was none. */
  readonly keeper?: KeeperReport;
}

/** Everything needed to build a Result; compliance is derived from the reason, never passed in. */
export interface ResultInput {
  job_id: string;
  pid: number | null;
  mode: Mode;
  intent?: string;
  startedAtMs: number;
  endedAtMs: number;
  exit: ExitStatus;
  reason: SlaReason;
  spawn_error?: SpawnError;
  usage?: Usage | null;
  cgroup?: CgroupReport;
  keeper?: KeeperReport;
}
