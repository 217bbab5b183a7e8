/**
 * The raw surface of the native addon (`native/*.cc`), typed once, here.
 *
 * Nothing outside `src/native/` and `src/observer/` touches these functions: they take
 * canonical, already-validated input (plain numbers, strings and arrays, no option bags
 * with defaults) and return plain data. Policy lives in TypeScript.
 *
 * Errors: every failing syscall throws a `NativeErrnoError`-shaped object
 * (`{ errno: <positive errno>, syscall: 'pidfd_open' | ..., path?: string }`, message is the
 * syscall name). `src/native/errors.ts` turns it into a Node-style SystemError
 * (`code: 'ESRCH'`, `errno: -3`). A wrong argument type throws a plain TypeError whose
 * message starts with `Usage:`.
 */

/** What the native side throws when a syscall fails: errno carried as data. */
export interface NativeErrnoError extends Error {
  /** Positive errno value as the kernel returned it (ESRCH = 3). */
  errno: number;
  /** The syscall (or libc call) that failed, e.g. `pidfd_open`, `clone3`, `execve`. */
  syscall: string;
  /** The path involved, when there is one (execve target, chdir dir, cgroup file). */
  path?: string;
}

/**
 * How the addon learnt a process's exit. Exactly one of the two shapes:
 * - from `waitid(P_PIDFD)` on our own child: `siCode` is CLD_EXITED (1), CLD_KILLED (2) or
 *   CLD_DUMPED (3) and `siStatus` the exit code or the signal number;
 * - from `ioctl(PIDFD_GET_INFO)` with `PIDFD_INFO_EXIT`: `waitStatus` is the raw wait(2)
 *   status word (`42 << 8` for `exit 42`, `9` for SIGKILL).
 */
export interface NativeWaitidStatus {
  siCode: number;
  siStatus: number;
}

/** Result of `pidfdGetExitInfo`. */
export type NativePidfdInfo =
  /** The kernel has PIDFD_GET_INFO but the exit is not (yet) known: running, or a zombie not yet reaped. */
  | { exited: false }
  /** PIDFD_INFO_EXIT was set in the returned mask: the raw wait status. */
  | { exited: true; waitStatus: number };

/** Input of `spawn`, canonical: TypeScript has validated and resolved everything. */
export interface NativeSpawnRequest {
  /**
   * Candidate executable paths, tried in order with execve(2) (the PATH search is done in
   * TS so the child runs no allocation; the child follows execvp's rules: ENOENT/ENOTDIR
   * move on, EACCES is remembered and reported if nothing else succeeds, anything else stops).
   * Non-empty. The error's `path` is the candidate that decided it: the first EACCES one, the
   * one that stopped the search, or the last one when all were ENOENT. No `/bin/sh` retry on
   * ENOEXEC.
   */
  candidates: string[];
  /** argv, argv[0] included. */
  argv: string[];
  /** The complete environment as `KEY=value` strings. */
  envp: string[];
  /** Directory to chdir(2) into before exec, or `null` to stay where the wrapper is. */
  cwd: string | null;
  /**
   * An O_PATH/O_DIRECTORY fd of a cgroup v2 directory to start the child in with
   * `clone3(CLONE_INTO_CGROUP)`, or -1. When the kernel refuses that flag the addon does not
   * silently drop it: it throws (syscall `clone3`) and TS decides what to do next.
   */
  cgroupFd: number;
  /**
   * `cgroup.procs` files the child writes its own PID into, one write(2) each, after setsid
   * and before exec (the v1/hybrid way to be born governed). A failed write does not stop the
   * exec: it is reported back in `NativeSpawnResult.placementErrors`.
   */
  cgroupProcsPaths: string[];
  /**
   * Start the workload under `ffrtmp-keeper` (native/keeper.c), or `null`/absent to exec it directly.
   * The child execs the keeper (after setsid, signals, cgroup, chdir, exactly as it would the
   * workload); the keeper forks the workload's process and reports its pid and pidfd over a
   * SOCK_SEQPACKET socketpair; the process waits before its exec until `keeperGo`, then execs with
   * execvp's PATH search over the same `candidates` (so an execve error's `path` is the same
   * candidate either way). The keeper writes the exit file at `exitFile` (absolute) when the
   * workload ends.
   *
   * Errors of the keeper itself: `execve` with `path` = the keeper's path (it could not be
   * executed: the caller may start the workload directly instead); `pipe2`/`fork` (the keeper
   * could not create the workload); `keeper` with `path`: EINVAL (it refused its arguments),
   * EPROTO (it never reported a workload: not a keeper, or it died; nothing runs, since the held
   * process execs only on `keeperGo`).
   */
  keeper?: { path: string; jobId: string; exitFile: string } | null;
}

/** One `cgroup.procs` write that failed in the child, reported through the CLOEXEC pipe. */
export interface NativePlacementError {
  /** Index into `cgroupProcsPaths`. */
  index: number;
  /** Positive errno. */
  errno: number;
}

/**
 * `spawn` returns once the child has successfully called execve (the CLOEXEC report pipe
 * closed), so a result always means "the workload is running the new program".
 */
export interface NativeSpawnResult {
  /** The workload's pid. */
  pid: number;
  /**
   * The workload's pidfd, CLOEXEC. Without a keeper it exists from the child's birth (CLONE_PIDFD,
   * or fork + pidfd_open, see docs/native.md) and the workload is our child. Under a keeper it
   * comes from the keeper (SCM_RIGHTS), and is -1 when the keeper's pidfd_open failed
   * (`pidfdErrno` says why).
   */
  pidfd: number;
  pidfdErrno?: number;
  /** The keeper (our child, the workload's parent) when there is one; else -1. */
  keeperPid: number;
  /** The keeper's pidfd (from its birth; CLOEXEC), or -1. */
  keeperPidfd: number;
  /**
   * Under a keeper: the socket the keeper waits on, the workload's process held before its exec.
   * The caller records the job, then calls `keeperGo(controlFd, ...)` (which closes it); closing
   * it instead means "never start" (the held process exits, no workload runs). -1 without a keeper.
   */
  controlFd: number;
  /** Which clone path was used: `clone3` (pidfd from birth) or `fork` (ENOSYS/EPERM fallback). */
  via: 'clone3' | 'fork';
  /** Whether the child was started with CLONE_INTO_CGROUP. */
  intoCgroup: boolean;
  /** `cgroup.procs` writes that failed in the child (empty when all succeeded). */
  placementErrors: NativePlacementError[];
}

/**
 * Called on the JS thread for each epoll event of a watched pidfd (edge-triggered: one call per
 * change, so typically `0x1` at exit, then `0x11` once the process is reaped). Events of one
 * `epoll_wait` share `detectedAtMs`. It should not throw: a throw is reported like a throwing
 * timer callback ('uncaughtException'), and the remaining events are still delivered.
 */
export type NativeExitEventCallback = (
  /** The token given to `watch`. */
  token: number,
  /** The epoll event mask (EPOLLIN = 0x1: exited; EPOLLHUP = 0x10: reaped). */
  events: number,
  /** CLOCK_REALTIME at the moment `epoll_wait` returned, in milliseconds (fractional). */
  detectedAtMs: number,
) => void;

export interface NativeCapabilities {
  /** `uname -r` */
  kernelRelease: string;
  /** pidfd_open(getpid()) works. */
  pidfdOpen: boolean;
  /** clone3 exists (probed without creating a process: ENOSYS vs EINVAL/EFAULT). */
  clone3: boolean;
  /** ioctl(PIDFD_GET_INFO) is known to the kernel. */
  pidfdGetInfo: boolean;
  /**
   * PIDFD_INFO_EXIT is supported: the kernel returned PIDFD_INFO_EXIT in the result mask for a
   * probe child that exited and was reaped through its pidfd (6.13/6.14 accept the request bit
   * and silently omit it, so only a reaped process tells). Probed once per addon instance; see
   * docs/native.md.
   */
  pidfdInfoExit: boolean;
}

/** One exec event that passed the comm filter (see `procEventsOpen`). */
export interface NativeProcExec {
  /** The process (thread group) id that exec'd, in the initial pid namespace. */
  pid: number;
  /**
   * The event's kernel timestamp: CLOCK_MONOTONIC in ns (ktime_get_ns, the clock of
   * `process.hrtime.bigint()`), as a double (exact up to 2^53 ns, i.e. 104 days of uptime).
   */
  timestampNs: number;
  /** /proc/<pid>/comm as the watcher thread read it (after the event, not at the exec itself). */
  comm: string;
}

/**
 * What one drain of the connector socket hands to JS. A drain that found no candidate, no
 * overrun and no error crosses nothing; its counters ride along with the next batch that does,
 * so `received` and `filtered` count since the previous batch. For metrics use
 * `procEventsStats` instead: it moves with every drain, whether anything crossed or not.
 */
export interface NativeProcEventsBatch {
  /** The candidates, one entry per pid (comm matched a target, or the target list is empty). */
  execs: NativeProcExec[];
  /**
   * recv() failures with ENOBUFS in this drain: the kernel dropped events because the socket's
   * receive buffer was full. One per congestion episode, not per lost event. Rescan /proc.
   */
  overruns: number;
  /** Exec datagrams read since the previous batch. */
  received: number;
  /**
   * Of those, dropped in C: the comm filter, a process already gone (its comm unreadable, or its
   * exit read in the same drain), or an earlier exec of a pid that exec'd again in the drain.
   */
  filtered: number;
  /** CLOCK_REALTIME in ms (fractional) when the drain started: the exit watcher's clock. */
  detectedAtMs: number;
  /** A recv() failure other than EAGAIN/EINTR/ENOBUFS (positive errno); the drain stopped there. */
  error?: { errno: number; syscall: string };
}

/** What `procEventsOpen` set up. */
export interface NativeProcEventsOpened {
  /** Names this connector in `procEventsClose`/`procEventsSetTargets` (never 0). */
  id: number;
  /** The kernel filters events itself (6.6+ proc_input with PROC_EVENT_EXEC). */
  kernelFilter: boolean;
  /** Our classic BPF socket filter (exec datagrams only) is attached. */
  socketFilter: boolean;
  /** getsockopt(SO_RCVBUF): the receive buffer the kernel granted (it doubles the request). */
  rcvbufBytes: number;
  /** The coalescing hold-off in effect (the argument, or the default 5). */
  holdOffMs: number;
}

/**
 * A connector's counters, cumulative since `procEventsOpen`, kept by the watcher thread with
 * every drain (std::atomic): unlike a batch's, they move whether or not anything crossed to JS.
 */
export interface NativeProcEventsStats {
  /** Exec events read. */
  received: number;
  /** Of those, dropped in C (see NativeProcEventsBatch.filtered). */
  filtered: number;
  /** Candidates handed to JS (entries of the batches' `execs`). */
  crossed: number;
  /** recv() failures with ENOBUFS: times the kernel dropped events. */
  overruns: number;
  /**
   * Times the watcher thread woke up for the socket and drained it: on readiness (the socket had
   * been quiet), or at the end of a hold-off. A quiet socket never wakes it.
   */
  drains: number;
}

export interface NativeBinding {
  /** pidfd_open(pid, 0). Returns a CLOEXEC fd owned by the caller. */
  pidfdOpen(pid: number): number;
  /** close(2). Idempotence is the caller's job. A watched fd is unwatched first. */
  closeFd(fd: number): void;
  /**
   * waitid(P_PIDFD, fd, WEXITED | WNOHANG). Reaps our own child. Returns `null` when the child
   * has not exited yet; throws ECHILD for a process that is not our child.
   */
  waitidPidfd(fd: number): NativeWaitidStatus | null;
  /**
   * ioctl(fd, PIDFD_GET_INFO) asking for PIDFD_INFO_EXIT. Throws ENOTTY/EINVAL when the kernel
   * lacks the ioctl, ESRCH when the process was reaped before any pidfd existed.
   */
  pidfdGetExitInfo(fd: number): NativePidfdInfo;
  /**
   * Start a process natively (own session, default signal state, no PDEATHSIG). Without a keeper
   * it returns once the workload has exec'd. Under a keeper it returns once the workload's process
   * exists, held before its exec: see `controlFd` and `keeperGo`.
   */
  spawn(req: NativeSpawnRequest): NativeSpawnResult;
  /**
   * Under a keeper, after `spawn`. `start`: lets the held workload exec, and returns once it has
   * (the keeper closed the socket); throws the exec error (`execve`, `path` = the candidate that
   * decided it, as `spawn` does without a keeper), after reaping the keeper. `!start`: the held
   * process exits without exec, and the keeper is reaped. Takes `controlFd` (closed on every
   * path); `keeperPidfd` stays the caller's.
   */
  keeperGo(controlFd: number, keeperPidfd: number, candidates: string[], start: boolean): void;

  /**
   * Start this environment's single watcher thread. Called at most once per addon instance
   * (per Node environment); a second call throws. The thread blocks in epoll_wait and keeps
   * the event loop alive only while at least one fd is watched.
   */
  watcherStart(onEvent: NativeExitEventCallback): void;
  /**
   * epoll_ctl(ADD, fd, EPOLLIN | EPOLLET). The token (an integer in [0, 2^32)) comes back in
   * every event for this fd. Throws EEXIST (syscall `epoll_ctl`) if the fd is already watched.
   */
  watch(fd: number, token: number): void;
  /**
   * epoll_ctl(DEL, fd). Unknown fds are ignored (already removed). Once it returns, no event for
   * this registration reaches the callback, even one the watcher thread had already queued.
   */
  unwatch(fd: number): void;
  /** Number of fds currently watched (for tests and doctor). */
  watchCount(): number;

  /** What the running kernel offers, probed without side effects on other processes. */
  capabilities(): NativeCapabilities;

  /**
   * Open the netlink process connector (docs/native.md, "The process connector"): a
   * NETLINK_CONNECTOR socket joined to CN_IDX_PROC, drained on this environment's watcher thread
   * (which must be started: the owner does it). For each exec event the thread reads
   * /proc/<pid>/comm and keeps the event when it equals one of `targets` (each compared on its
   * first 15 UTF-8 bytes, as the kernel truncates comm); an empty list keeps every exec. One
   * `onBatch` call per drain that has candidates, an overrun or an error.
   *
   * `rcvbufBytes` 0 keeps the kernel's default buffer; otherwise SO_RCVBUFFORCE, then SO_RCVBUF.
   * `kernelFilter`: ask a 6.6+ kernel to send exec events only (the result says if it does).
   * `holdOffMs` (integer in [0, 1000], default 5): coalescing. A drain less than this after the
   * previous one leaves the socket unwatched for this long, then drains all that queued at once
   * (and so on while execs keep coming): an exec after a quiet spell is read at once, one in a
   * stream at most `holdOffMs` later. 0: every exec wakes the thread (no coalescing).
   * Blocks the calling thread until the kernel acks the LISTEN (normally within the sendto;
   * at most ~1.25 s). While open, the connector keeps the event loop alive.
   *
   * Throws: `socket` (EPROTONOSUPPORT: no connector), `bind` (EPERM before 6.6 without
   * CAP_NET_ADMIN), `sendto` (ECONNREFUSED in a non-initial network namespace),
   * `proc_connector_ack` (ETIMEDOUT: no ack, a non-initial user or pid namespace; or the errno
   * the kernel put in the ack), `poll`, `recv`, `setsockopt`, `getsockopt`, `epoll_ctl`, and
   * EBUSY with syscall `procEventsOpen` when one is already open in this environment.
   */
  procEventsOpen(
    targets: string[],
    rcvbufBytes: number,
    kernelFilter: boolean,
    onBatch: (batch: NativeProcEventsBatch) => void,
    holdOffMs?: number,
  ): NativeProcEventsOpened;
  /**
   * Close it (sends PROC_CN_MCAST_IGNORE, closes the socket). Idempotent; unknown ids are
   * ignored. Once it returns no batch reaches `onBatch`, and the loop is no longer held.
   */
  procEventsClose(id: number): void;
  /** Replace the target list of an open connector (next drain on). False when `id` is not open. */
  procEventsSetTargets(id: number, targets: string[]): boolean;
  /** The counters of an open connector (cumulative since it opened); `null` when `id` is not open. */
  procEventsStats(id: number): NativeProcEventsStats | null;
  /**
   * getxattr(2): the value of extended attribute `name` of `path` (symlinks followed), as bytes;
   * `null` when the file has no such attribute (ENODATA: an answer, not an error). Throws
   * `{ errno, syscall: 'getxattr', path }` for anything else (ENOENT, EACCES, ENOTSUP, ...).
   * Reading `trusted.*` needs CAP_SYS_ADMIN: without it the kernel answers ENODATA (null).
   */
  getxattr(path: string, name: string): Buffer | null;
}
