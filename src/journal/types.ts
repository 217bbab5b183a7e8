/**
 * The job journal's record types and the recorder contract between the core and the journal.
 *
 * The journal is the durable, on-disk form of the Results (docs/visibility.md): append-only JSON lines, one record per
 * line, never rewritten. Two record types:
 *
 * - `started`: written by `JobRecorder.started()` once a process exists and before the core
 *   begins to wait for it. Carries the process identity (pid + start time in clock ticks, field
 *   22 of /proc/<pid>/stat) so that a later `ffrtmp recover` never adopts a reused PID, and the
 *   identity of the wrapper process that owns the job, so that a job whose wrapper is still alive
 *   is never mistaken for an orphan.
 * - `result`: written by `JobRecorder.finished()` exactly once per job: `{ type: 'result', v,
 *   run_id, ...Result }`. The Result's own fields are spread unchanged at the top level, so a
 *   result line *is* the Result plus a small envelope.
 *
 * Envelope fields (both types): `type` is always the first key (the reader relies on it to
 * resynchronise after a torn line), `v` is the record schema version, `run_id` is a random id
 * generated per job by the recorder, which pairs a `started` record with its `result` even when
 * the same `job_id` is reused by different runs. A spawn failure has no `started` record (there
 * was never a process): only its `result`.
 *
 * Readers must ignore fields they do not know (forward compatibility).
 */
import type { Mode, Result } from '../model/result';

export const JOURNAL_RECORD_VERSION = 1 as const;

/** A process identity: the pid and its start time (clock ticks since boot, as a decimal string). */
export interface ProcessIdentity {
  readonly pid: number;
  /**
   * Field 22 of /proc/<pid>/stat as a decimal string. `null` only when it could not be read
   * (the process had already gone): such a job is never adopted, its identity cannot be checked.
   */
  readonly start_time_ticks: string | null;
}

/** What the core hands to `JobRecorder.started()`. */
export interface StartedRecord {
  readonly type: 'started';
  readonly job_id: string;
  readonly pid: number;
  readonly mode: Mode;
  readonly intent?: string;
  /** The workload's identity: pid + start time ticks. */
  readonly identity: ProcessIdentity;
  /** The cgroup the workload was placed in (path under /sys/fs/cgroup), or null when ungoverned. */
  readonly cgroup: string | null;
  /** ISO 8601 with milliseconds: the same instant as the Result's `start_time`. */
  readonly start_time: string;
}

/** A `started` line as it is stored: the core's record plus the envelope the recorder adds. */
export interface StartedJournalRecord extends StartedRecord {
  readonly v: typeof JOURNAL_RECORD_VERSION;
  readonly run_id: string;
  /** The wrapper process that owns (observes) the job. Filled in by the recorder. */
  readonly wrapper: ProcessIdentity;
}

/** A `result` line: the Result, unchanged, plus the envelope. */
export type ResultJournalRecord = {
  readonly type: 'result';
  readonly v: typeof JOURNAL_RECORD_VERSION;
  readonly run_id: string;
  /**
   * Present only when the Result was written by an adopter (`ffrtmp recover` / `ffrtmp serve`)
   * rather than the wrapper that started the job: the adopter's identity.
   */
  readonly adopted_by?: ProcessIdentity;
} & Result;

export type JournalRecord = StartedJournalRecord | ResultJournalRecord;

/**
 * How the core reports a job to the journal (or to anything else: tests use in-memory ones).
 *
 * Contract:
 * - One recorder may serve several jobs (one `attach` call adopts many PIDs); jobs are told apart
 *   by `job_id`, which the core keeps distinct within one call.
 * - Per job: `started(rec)` at most once, when a process exists, before the core waits for it.
 *   Not called when the workload could not be started (or the observer could not be installed).
 * - Per job: `finished(result)` exactly once, with the frozen Result, including spawn failures.
 * - Neither ever throws into the core and neither ever changes the workload or the wrapper's
 *   exit status. Failures are kept on the recorder (`lastError`, and per job
 *   `persistence(jobId)` on the journal's recorder) for the caller to report (e.g. "Result was
 *   not persisted" on stderr).
 */
export interface JobRecorder {
  started(rec: StartedRecord): void;
  finished(result: Result): void;
}

/** A journal problem, as data: never thrown at callers of the recorder or the reader. */
export interface JournalError {
  /** What was being done: `open`, `write`, `fsync`, `rotate`, `mkdir`, ... */
  readonly op: string;
  /** errno code when there was one (`EROFS`, `ENOSPC`, ...). */
  readonly code?: string;
  readonly path: string;
  readonly message: string;
}
