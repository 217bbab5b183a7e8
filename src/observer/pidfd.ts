import { EPOLLHUP, EPOLLIN, type FdSubscription, type Native } from '../native/native';
import { SystemError } from '../native/errors';
import { fromWaitid, fromWaitStatus, signalName } from '../model/exit-status';
import { UNKNOWN_EXIT, type ExitStatus, type KeeperReport } from '../model/result';
import type { NativeSpawnRequest, NativeSpawnResult, NativeWaitidStatus } from '../native/binding';
import { locateKeeper } from '../native/keeper-path';
import { KEEPER_EXIT } from '../native/keeper-protocol';
import { pidfdPid, readStartTime } from './procfs';
import { commandCandidates, envp } from './command-path';
import { keeperWhy, readExitFile } from './keeper';
import type {
  AttachOptions,
  AttachedProcess,
  CreatedProcess, ExitObserver, ObservedExit, PlacementFailure, SpawnRequest, SpawnedChild, Watch,
} from './types';

/**
 * How long an adopted process may stay an unreaped zombie after it exited before its status is
 * recorded as unknown. PIDFD_INFO_EXIT only exists once the parent reaps; orphans of a killed
 * wrapper are reaped by PID 1, which was seen to take 1.5-7 s on the machines we measured
 * (docs/native.md).
 * The end time is the exit itself, not the reap: only the status waits.
 */
export const DEFAULT_REAP_GRACE_MS = 30_000;

export interface PidfdObserverOptions {
  /** See DEFAULT_REAP_GRACE_MS. */
  reapGraceMs?: number;
}

interface Entry {
  readonly fd: number;
  readonly pid: number;
  /**
   * `child`: we spawned it and reap it with waitid. `adopted`: someone else's, read PIDFD_INFO_EXIT.
   * `presence`: someone else's, and only its end matters (no status).
   */
  readonly kind: 'child' | 'adopted' | 'presence';
  exitedAtMs?: number;
  graceTimer?: NodeJS.Timeout;
  resolve(exit: ObservedExit): void;
}

/** The pidfd + epoll backend: zero polling, exit detected by the kernel's wake-up. */
export class PidfdObserver implements ExitObserver {
  readonly backend = 'pidfd' as const;
  private readonly reapGraceMs: number;

  constructor(
    private readonly native: Native,
    readonly why: string,
    /** Whether the kernel reports a non-child's exit status (PIDFD_INFO_EXIT, 6.15+). */
    private readonly infoExit: boolean,
    opts: PidfdObserverOptions = {},
  ) {
    this.reapGraceMs = opts.reapGraceMs ?? DEFAULT_REAP_GRACE_MS;
  }

  attach(pid: number, opts: AttachOptions = {}): AttachedProcess {
    // The watcher first: if watching is impossible (EMFILE), nothing has been opened yet.
    this.native.ensureWatcher();
    const fd = this.native.pidfdOpen(pid);
    // The pidfd does not pin the PID number, so read the identity first and then check that the
    // pidfd's process has not been reaped meanwhile: if it has not, the stat was its own.
    const startTime = readStartTime(pid);
    const identityStartTime = startTime !== null && pidfdPid(fd) === pid ? startTime : null;
    const watch = this.watchFd(fd, pid, opts.needStatus === false ? 'presence' : 'adopted');
    return { pid, watch, identityStartTime, pidfd: fd };
  }

  async spawn(req: SpawnRequest): Promise<SpawnedChild> {
    const paths = req.placement?.cgroupProcsPaths ?? [];
    // The watcher first: a workload we could not watch is never started.
    this.native.ensureWatcher();
    const base: NativeSpawnRequest = {
      candidates: commandCandidates(req.command, req.env),
      argv: [req.command, ...req.args],
      envp: envp(req.env),
      cwd: req.cwd,
      cgroupFd: req.placement?.cgroupFd ?? -1,
      cgroupProcsPaths: [...paths],
      keeper: null,
    };
    const { r, keeper, exitFile } = this.spawnMaybeKept(req, base);
    const placementFailures: PlacementFailure[] = r.placementErrors.map((p) => ({
      path: paths[p.index] ?? '?',
      error: new SystemError(p.errno, 'write', paths[p.index]),
    }));
    const created: CreatedProcess = { pid: r.pid, via: r.via, intoCgroup: r.intoCgroup, placementFailures, keeper };
    if (exitFile === null) {
      let watch: Watch;
      try {
        watch = this.watchFd(r.pidfd, r.pid, 'child');
      } catch (err) {
        // The workload runs and stays running; the Result must still name it.
        throw Object.assign(err as Error, { pid: r.pid });
      }
      notify(req, created);
      return { ...created, watch };
    }
    // Under the keeper the workload's process is held before its exec: watch first (a workload
    // we could not watch is never started), record (onCreated), then let it exec.
    const watch = this.watchKept(r, exitFile); // throws with nothing started, the keeper reaped
    notify(req, created);
    try {
      this.native.keeperGo(r.controlFd, r.keeperPidfd, base.candidates, true);
    } catch (err) {
      watch.close(); // the keeper is reaped: its fds go
      throw err;
    }
    return { ...created, watch };
  }

  /**
   * Under the keeper when one was asked for and can run; else directly, saying why. A keeper that
   * fails before the go has started nothing: the workload is then started directly, once.
   */
  private spawnMaybeKept(req: SpawnRequest, base: NativeSpawnRequest): { r: NativeSpawnResult; keeper: KeeperReport; exitFile: string | null } {
    const want = req.keeper;
    if (want === undefined || 'why' in want) {
      return { r: this.native.spawn(base), keeper: { pid: null, why: keeperWhy(req, '') }, exitFile: null };
    }
    const loc = locateKeeper();
    if (!loc.available) {
      return { r: this.native.spawn(base), keeper: { pid: null, why: `${loc.why}: started directly` }, exitFile: null };
    }
    try {
      const r = this.native.spawn({ ...base, keeper: { path: loc.path, jobId: want.jobId, exitFile: want.exitFile } });
      return { r, keeper: { pid: r.keeperPid }, exitFile: want.exitFile };
    } catch (err) {
      const e = err as SystemError;
      // Failures before the go, so nothing was started (the held process execs only on our go):
      // the keeper could not be executed, refused its arguments, or never reported a workload
      // (no keeper at all, or one that died).
      const keeperFailed = e.path === loc.path && (e.syscall === 'execve' || (e.syscall === 'keeper' && (e.code === 'EINVAL' || e.code === 'EPROTO')));
      if (!keeperFailed) throw err;
      const why =
        e.syscall === 'execve' ? `${loc.path} could not be executed (${e.code})`
        : e.code === 'EPROTO' ? `${loc.path} never reported a workload (not an ffrtmp-keeper, or it died)`
        : `${loc.path} refused its arguments`;
      return { r: this.native.spawn(base), keeper: { pid: null, why: `${why}: started directly` }, exitFile: null };
    }
  }

  /**
   * A workload under a keeper (held before its exec: the caller lets it go). Only the keeper's
   * pidfd is watched (one wake-up per job): when the keeper exits, its exit file holds the
   * workload's status and end time. If it exited without
   * one (killed, or the file could not be written), the workload is watched on as an adopted
   * process: PIDFD_INFO_EXIT where the kernel has it, else unknown, and the problem is reported.
   */
  private watchKept(r: NativeSpawnResult, exitFile: string): Watch {
    const keeperFd = r.keeperPidfd;
    let workloadFd = r.pidfd; // -1: the keeper could not give it; owned here until handed on
    let keeperOpen = true;
    let closed = false;
    let inner: Watch | undefined;
    let sub: FdSubscription | undefined;
    let resolveExit!: (exit: ObservedExit) => void;
    const exited = new Promise<ObservedExit>((resolve) => (resolveExit = resolve));
    const closeKeeper = (): void => {
      if (!keeperOpen) return;
      keeperOpen = false;
      sub?.close();
      this.native.closeFd(keeperFd);
    };
    const release = (): void => {
      if (closed) return;
      closed = true;
      closeKeeper();
      if (inner !== undefined) inner.close();
      else if (workloadFd >= 0) this.native.closeFd(workloadFd);
      workloadFd = -1;
    };
    const finish = (exit: ObservedExit): void => {
      if (closed) return;
      release();
      resolveExit(exit);
    };
    const onKeeperEvent = (events: number, at: number): void => {
      if ((events & (EPOLLIN | EPOLLHUP)) === 0 || !keeperOpen) return;
      let own: NativeWaitidStatus | null | undefined;
      try {
        own = this.native.waitidPidfd(keeperFd);
        if (own === null) return; // not exited yet
      } catch {
        own = undefined; // someone else reaped it
      }
      closeKeeper();
      const read = readExitFile(exitFile, { pid: r.pid, keeperPid: r.keeperPid });
      if (read.ok) {
        // (never started: cannot happen while we hold the go; honest all the same)
        finish({ exitedAtMs: read.endedAtMs, status: read.status, ...(read.started ? {} : { keeperProblem: 'the keeper says the workload never started' }) });
        return;
      }
      const problem = keeperProblem(own, read.why);
      if (workloadFd < 0) {
        finish({ exitedAtMs: at, status: UNKNOWN_EXIT, keeperProblem: problem });
        return;
      }
      const fd = workloadFd;
      workloadFd = -1; // watchFd owns it now, on every path
      try {
        inner = this.watchFd(fd, r.pid, 'adopted');
      } catch {
        finish({ exitedAtMs: at, status: UNKNOWN_EXIT, keeperProblem: `${problem}; the workload could not be watched` });
        return;
      }
      void inner.exited.then((e) => finish({ ...e, keeperProblem: problem }));
    };
    try {
      sub = this.native.subscribe(keeperFd, onKeeperEvent);
    } catch (err) {
      // Never started: the held process exits without exec, the keeper too (and is reaped).
      this.native.keeperGo(r.controlFd, keeperFd, [], false);
      release();
      throw err;
    }
    return { pid: r.pid, exited, close: release, [Symbol.dispose]: release };
  }

  /** Watches `fd` (which it then owns: closed on every path, including a failure to watch). */
  private watchFd(fd: number, pid: number, kind: Entry['kind']): Watch {
    let closed = false;
    let resolveExit!: (exit: ObservedExit) => void;
    const exited = new Promise<ObservedExit>((resolve) => (resolveExit = resolve));
    const e: Entry = { fd, pid, kind, resolve: resolveExit };
    let sub: FdSubscription | undefined;
    const finish = (at: number, status: ExitStatus): void => {
      if (closed) return;
      release();
      e.resolve({ exitedAtMs: at, status });
    };
    const release = (): void => {
      if (closed) return;
      closed = true;
      if (e.graceTimer) clearTimeout(e.graceTimer);
      sub?.close();
      this.native.closeFd(fd);
    };
    try {
      sub = this.native.subscribe(fd, (events, at) => this.onEvent(e, events, at, finish));
    } catch (err) {
      release();
      throw err;
    }
    return { pid, exited, close: release, [Symbol.dispose]: release };
  }

  private onEvent(e: Entry, events: number, at: number, finish: (at: number, s: ExitStatus) => void): void {
    if (e.kind === 'child') {
      if ((events & (EPOLLIN | EPOLLHUP)) === 0) return;
      let status: ExitStatus;
      try {
        const w = this.native.waitidPidfd(e.fd);
        if (w === null) return; // not exited yet (spurious wake-up): keep waiting
        status = fromWaitid(w.siCode, w.siStatus);
      } catch {
        status = UNKNOWN_EXIT; // someone else reaped our child: honest, not invented
      }
      finish(at, status);
      return;
    }
    // Adopted: EPOLLIN is the exit (the end time); the status exists only after the reap (EPOLLHUP).
    if (e.exitedAtMs === undefined && (events & (EPOLLIN | EPOLLHUP)) !== 0) e.exitedAtMs = at;
    const exitedAt = e.exitedAtMs ?? at;
    if (!this.infoExit || e.kind === 'presence') {
      finish(exitedAt, UNKNOWN_EXIT);
      return;
    }
    if ((events & EPOLLHUP) !== 0) {
      finish(exitedAt, this.readExitInfo(e.fd));
      return;
    }
    if (e.graceTimer === undefined) {
      e.graceTimer = setTimeout(() => finish(exitedAt, this.readExitInfo(e.fd)), this.reapGraceMs);
    }
  }

  private readExitInfo(fd: number): ExitStatus {
    try {
      const info = this.native.pidfdGetExitInfo(fd);
      return info.exited ? fromWaitStatus(info.waitStatus, 'pidfd_info') : UNKNOWN_EXIT;
    } catch {
      return UNKNOWN_EXIT;
    }
  }
}

/** Tells the caller the process exists (a throw there must not stop the start). */
function notify(req: SpawnRequest, created: CreatedProcess): void {
  try {
    req.onCreated?.(created);
  } catch {
    /* the caller's problem, never the workload's */
  }
}

/** What went wrong with a keeper that exited without a usable exit file. */
function keeperProblem(own: NativeWaitidStatus | undefined, fileWhy: string): string {
  if (own === undefined) return `the keeper's own exit could not be collected; ${fileWhy}`;
  if (own.siCode === 2 || own.siCode === 3) return `the keeper was killed by ${signalName(own.siStatus)} before it recorded the workload's end`;
  if (own.siCode === 1 && own.siStatus === KEEPER_EXIT.notWritten) return `the keeper could not write its exit file; ${fileWhy}`;
  return `the keeper exited ${own.siStatus}; ${fileWhy}`;
}
