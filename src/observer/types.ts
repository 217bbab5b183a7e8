import type { ExitStatus, KeeperReport } from '../model/result';
import type { SystemError } from '../native/errors';

/**
 * The observer contract. Two backends implement it (src/observer/pidfd.ts and polling.ts) and
 * one contract suite (test/observer/contract.test.ts) runs against both.
 *
 * An observer starts processes (`spawn`, for `ffrtmp run`) and adopts running ones (`attach`),
 * and tells when each exits. It never signals, restarts or reaps anything it did not start.
 */

export type ObserverBackend = 'pidfd' | 'polling';

export interface ObservedExit {
  /** When the exit was detected, in ms since the epoch (fractional where the backend knows better). */
  readonly exitedAtMs: number;
  /** How it ended. `exit_source: 'unknown'` when the backend cannot know. */
  readonly status: ExitStatus;
  /** Under a keeper that could not do its job: what went wrong (the status came from elsewhere). */
  readonly keeperProblem?: string;
}

/**
 * One watched process. `exited` settles once, when the process ends. `close()` stops watching
 * (idempotent, never touches the process); after it, `exited` never settles.
 */
export interface Watch extends Disposable {
  readonly pid: number;
  readonly exited: Promise<ObservedExit>;
  close(): void;
}

export interface SpawnRequest {
  /** A name looked up in PATH, or a path containing `/`. */
  readonly command: string;
  readonly args: readonly string[];
  /** Directory the child starts in; null: the wrapper's. */
  readonly cwd: string | null;
  readonly env: NodeJS.ProcessEnv;
  /** Where the child joins its cgroup before exec (the cgroup layer fills this in). */
  readonly placement?: SpawnPlacement;
  /**
   * Start the workload under `ffrtmp-keeper`, its parent, which writes `exitFile` when it ends
   * (docs/native.md "keeper"). A backend that cannot (no keeper binary, polling) starts the
   * workload directly and says why in `SpawnedChild.keeper`; absent: directly, `why` given here.
   */
  readonly keeper?: { readonly jobId: string; readonly exitFile: string } | { readonly why: string };
  /**
   * Called once the process exists and before it runs anything of its own where the backend can
   * hold it there (under a keeper: it waits before its exec until this returns), else right after
   * its start. The core makes the job durable here (the journal's `started` record), so that no
   * workload runs without a record. Must not throw (a throw is ignored: the start goes on).
   */
  readonly onCreated?: (created: CreatedProcess) => void;
}

export interface SpawnPlacement {
  /** A cgroup v2 directory fd for clone3(CLONE_INTO_CGROUP), or -1. */
  readonly cgroupFd: number;
  /** `cgroup.procs` files the child writes its own PID into before exec. */
  readonly cgroupProcsPaths: readonly string[];
}

export interface PlacementFailure {
  readonly path: string;
  readonly error: SystemError;
}

/** What a spawn has made, before the watch is handed over. */
export interface CreatedProcess {
  readonly pid: number;
  /** How the process was created: `clone3` (pidfd from birth), `fork` (+pidfd_open), `child_process` (fallback). */
  readonly via: 'clone3' | 'fork' | 'child_process';
  /** The child was born in its cgroup with CLONE_INTO_CGROUP. */
  readonly intoCgroup: boolean;
  /** `cgroup.procs` writes the child could not make (it was exec'd all the same). */
  readonly placementFailures: readonly PlacementFailure[];
  /** The keeper's pid, or why the workload was started without one. */
  readonly keeper: KeeperReport;
}

export interface SpawnedChild extends CreatedProcess {
  readonly watch: Watch;
}

/** A process adopted by `attach`; `identityStartTime` is field 22 of /proc/<pid>/stat. */
export interface AttachedProcess {
  readonly pid: number;
  readonly watch: Watch;
  /** Start time in clock ticks, read while the watch held the process, or null if it was already gone. */
  readonly identityStartTime: string | null;
  /** The pidfd, for backends that have one (the cgroup layer verifies a move through it); else -1. */
  readonly pidfd: number;
}

export interface AttachOptions {
  /**
   * false: only the end matters, not the status (`exited` then settles at the exit itself with
   * exit unknown, instead of waiting for the reap that PIDFD_INFO_EXIT needs). Default true.
   */
  readonly needStatus?: boolean;
}

export interface ExitObserver {
  readonly backend: ObserverBackend;
  /** One sentence: why this backend is the one in use. */
  readonly why: string;
  /**
   * Start watching an existing process. Throws a SystemError (`code: 'ESRCH'`) when there is no
   * such process, or another SystemError when the watch cannot be installed.
   */
  attach(pid: number, opts?: AttachOptions): AttachedProcess;
  /**
   * Start a process (own session, default signal state, never tied to the wrapper's life).
   * Throws a SystemError: `syscall: 'execve'` (ENOENT, EACCES, ...) or `'chdir'` when the
   * command cannot be started; `clone3`/`fork`/`pipe2`/`spawn` for platform failures.
   */
  spawn(req: SpawnRequest): Promise<SpawnedChild>;
}
