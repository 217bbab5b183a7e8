import { EPOLLHUP, EPOLLIN, type FdSubscription, type Native } from '../native/native';
import { SystemError } from '../native/errors';
import { fromWaitid, fromWaitStatus } from '../model/exit-status';
import { UNKNOWN_EXIT, type ExitStatus } from '../model/result';
import { pidfdPid, readStartTime } from './procfs';
import { commandCandidates, envp } from './command-path';
import type {
  AttachedProcess, ExitObserver, ObservedExit, PlacementFailure, SpawnRequest, SpawnedChild, Watch,
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
  /** `child`: we spawned it and reap it with waitid. `adopted`: someone else's, read PIDFD_INFO_EXIT. */
  readonly kind: 'child' | 'adopted';
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

  attach(pid: number): AttachedProcess {
    // The watcher first: if watching is impossible (EMFILE), nothing has been opened yet.
    this.native.ensureWatcher();
    const fd = this.native.pidfdOpen(pid);
    // The pidfd does not pin the PID number, so read the identity first and then check that the
    // pidfd's process has not been reaped meanwhile: if it has not, the stat was its own.
    const startTime = readStartTime(pid);
    const identityStartTime = startTime !== null && pidfdPid(fd) === pid ? startTime : null;
    const watch = this.watchFd(fd, pid, 'adopted');
    return { pid, watch, identityStartTime, pidfd: fd };
  }

  async spawn(req: SpawnRequest): Promise<SpawnedChild> {
    const paths = req.placement?.cgroupProcsPaths ?? [];
    // The watcher first: a workload we could not watch is never started.
    this.native.ensureWatcher();
    const r = this.native.spawn({
      candidates: commandCandidates(req.command, req.env),
      argv: [req.command, ...req.args],
      envp: envp(req.env),
      cwd: req.cwd,
      cgroupFd: req.placement?.cgroupFd ?? -1,
      cgroupProcsPaths: [...paths],
    });
    const placementFailures: PlacementFailure[] = r.placementErrors.map((p) => ({
      path: paths[p.index] ?? '?',
      error: new SystemError(p.errno, 'write', paths[p.index]),
    }));
    let watch: Watch;
    try {
      watch = this.watchFd(r.pidfd, r.pid, 'child');
    } catch (err) {
      // The workload runs and stays running; the Result must still name it.
      throw Object.assign(err as Error, { pid: r.pid });
    }
    return { pid: r.pid, watch, via: r.via, intoCgroup: r.intoCgroup, placementFailures };
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
    if (!this.infoExit) {
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
