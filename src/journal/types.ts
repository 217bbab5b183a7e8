/**
 * The job journal's record types and the recorder contract between the core and the journal.
 *
 * The journal is the durable, on-disk form of the Results (docs/visibility.md): append-only JSON
 * lines, one record per line, never rewritten. Three record types, paired by `run_id` (one run of
 * one job, made by the core at the start: src/model/run-id.ts):
 *
 * - `started`: once a process exists and before the core waits for it. Carries the process
 *   identity (pid + start time in clock ticks, field 22 of /proc/<pid>/stat) so that a later
 *   adopter never adopts a reused PID, the identity of the wrapper that owns the job (so a job
 *   whose wrapper is alive is never mistaken for an orphan), and its cgroup leaves and the cgroup
 *   report as of the start (so whoever records the end can read the usage, remove the leaves and
 *   keep the governance findings).
 * - `detached`: the wrapper was told to stop (SIGINT/SIGTERM/SIGHUP, or its caller aborted) and
 *   left the workload running. Not an end: the job stays open, and whoever adopts it records its
 *   one Result later, with the real end.
 * - `result`: exactly once per job: `{ type: 'result', v, run_id, ...Result }`. The Result's own
 *   fields are spread unchanged at the top level, so a result line *is* the Result plus a small
 *   envelope. A spawn failure has no `started` record (there was never a process): only its
 *   `result`.
 *
 * `type` is always the first key (the reader resynchronises on it after a torn line) and `v` is
 * the record schema version. Readers must ignore fields they do not know (forward compatibility)
 * and record types they do not know.
 */
import type { CgroupReport } from '../model/cgroup-report';
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
  readonly run_id: string;
  readonly job_id: string;
  readonly pid: number;
  readonly mode: Mode;
  readonly intent?: string;
  /** The workload's identity: pid + start time ticks. */
  readonly identity: ProcessIdentity;
  /** The job's main cgroup leaf (the memory leaf, else the first), or null when ungoverned. */
  readonly cgroup: string | null;
  /** Every cgroup leaf of the job (one per hierarchy), to be read and removed at its end. */
  readonly leaves?: readonly string[];
  /** How the job was governed as of its start (limits, placement, problems, cgroups left by attach). */
  readonly cgroup_report?: CgroupReport;
  /** ISO 8601 with milliseconds: the same instant as the Result's `start_time`. */
  readonly start_time: string;
  /**
   * The workload's parent, `ffrtmp-keeper`, when it has one (`run` without `--no-keeper`): its
   * identity, and the exit file it writes when the workload ends (docs/native.md "keeper"), for
   * whoever records the end after this wrapper is gone.
   */
  readonly keeper?: KeeperIdentity;
}

/** A keeper's identity and the exit file it writes. */
export interface KeeperIdentity extends ProcessIdentity {
  /** Absolute path: `<state-dir>/exits/<run_id>.json`. */
  readonly exit_file: string;
}

/** A `started` line as it is stored: the core's record plus the envelope the recorder adds. */
export interface StartedJournalRecord extends StartedRecord {
  readonly v: typeof JOURNAL_RECORD_VERSION;
  /** The wrapper process that owns (observes) the job. Filled in by the recorder. */
  readonly wrapper: ProcessIdentity;
}

/** What the core hands to `JobRecorder.detached()`. */
export interface DetachedRecord {
  readonly type: 'detached';
  readonly run_id: string;
  readonly job_id: string;
  readonly mode: Mode;
  readonly pid: number;
  readonly start_time: string;
  /** ISO 8601 with milliseconds: when the wrapper let go. */
  readonly detached_at: string;
  /** Why, when known: the signal the wrapper got (`SIGTERM`), or the caller's abort reason. */
  readonly why?: string;
}

/** A `detached` line as stored. */
export interface DetachedJournalRecord extends DetachedRecord {
  readonly v: typeof JOURNAL_RECORD_VERSION;
  /** The wrapper that let go. */
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

export type JournalRecord = StartedJournalRecord | DetachedJournalRecord | ResultJournalRecord;

/** A job id a wrapper is about to start (or adopt) a run of. */
export interface JobClaim {
  readonly run_id: string;
  readonly job_id: string;
  readonly mode: Mode;
}

/** A job that is open on this node: started (or being started), and without its Result yet. */
export interface OpenJob extends JobClaim {
  /** The workload, once it exists (null while it is being started). */
  readonly identity: ProcessIdentity | null;
  /** Its cgroup leaves, once they exist. */
  readonly leaves?: readonly string[];
  /** The wrapper that owns it. */
  readonly wrapper: ProcessIdentity;
  /** Whether that wrapper let go of it (the workload runs on, unwatched until adopted). */
  readonly detached: boolean;
}

/**
 * How the core reports a job to the journal (or to anything else: tests use in-memory ones).
 *
 * Contract:
 * - One recorder may serve several jobs (one `attach` call adopts many PIDs); they are told apart
 *   by `run_id`.
 * - `claim(jobs)`, when the recorder has it: before anything is created, the core claims the job
 *   ids of its runs; the open jobs holding any of them come back and the core refuses to start
 *   (nothing was claimed then). `openJobs()` lists the jobs open on the node (for `attach`'s
 *   "already governed" check). Both are optional: a recorder without them means no checks.
 * - Per job: `started(rec)` at most once, when a process exists, before the core waits for it.
 * - Per job: then either `finished(result, runId)` exactly once with the frozen Result (spawn
 *   failures included), or `detached(rec)` when the wrapper let go: then the job stays open and
 *   its Result is written later by whoever adopts it.
 * - None of them ever throws into the core or changes the workload or the wrapper's exit
 *   status. Failures are kept on the recorder (`lastError`, and per job `persistence(jobId)` on
 *   the journal's recorder) for the caller to report ("Result was not persisted" on stderr).
 */
export interface JobRecorder {
  claim?(jobs: readonly JobClaim[]): readonly OpenJob[];
  /** Gives back the claims of runs that never started (nothing else was recorded for them). */
  release?(runIds: readonly string[]): void;
  openJobs?(): readonly OpenJob[];
  /** The open job whose workload is this process (pid and start time), or null: one lookup, not a scan. */
  openJobOf?(identity: ProcessIdentity): OpenJob | null;
  /**
   * Claims the process of the claimed job `runId` (attach): returns the open job that already
   * holds it (then nothing changed, and the caller refuses), or null once it is this job's.
   */
  claimProcess?(runId: string, identity: ProcessIdentity): OpenJob | null;
  /**
   * The job's cgroup leaves are about to be created (none exists yet): kept with the claim, so
   * that the leaves of a wrapper killed while creating them, or before its `started` record, are
   * still known and removed (the sweep removes those that exist and are empty).
   */
  governed?(runId: string, leaves: readonly string[]): void;
  started(rec: StartedRecord): void;
  /**
   * Where a keeper of this run writes its exit file (an absolute path in the state dir), or
   * undefined when this recorder keeps none. Without it there is no keeper: nobody would read
   * the file. The recorder removes the file once the run's Result is durable.
   */
  exitFileFor?(runId: string): string | undefined;
  detached?(rec: DetachedRecord): void;
  finished(result: Result, runId: string): void;
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
