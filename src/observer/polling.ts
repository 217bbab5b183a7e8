import { closeSync, constants as fsc, openSync, writeSync } from 'node:fs';
import { fromNodeExit } from '../model/exit-status';
import { UNKNOWN_EXIT } from '../model/result';
import { SystemError } from '../native/errors';
import { keeperWhy } from './keeper';
import { readProcStat } from './procfs';
import type {
  AttachedProcess, ExitObserver, ObservedExit, PlacementFailure, SpawnRequest, SpawnedChild, Watch,
} from './types';

/** The original wrapper polled every 1 s; 100 ms keeps detection under ~100 ms for little idle cost. */
export const DEFAULT_POLL_INTERVAL_MS = 100;

/** errnos with which an exec fails because of the command itself, not the platform. */
const EXEC_ERRORS = new Set(['ENOENT', 'EACCES', 'ENOEXEC', 'ENOTDIR', 'ELOOP', 'ENAMETOOLONG', 'EISDIR', 'ETXTBSY']);

interface Polled {
  readonly pid: number;
  readonly startTime: string | null;
  readonly resolve: (exit: ObservedExit) => void;
}

/**
 * The fallback backend, for kernels below 5.3 or when the addon cannot load. It polls, but with
 * identity: PID + start time from /proc, so a reused PID is not mistaken for the workload;
 * EPERM from kill(pid, 0) counts as alive (another user's process); a zombie counts as exited.
 * One timer serves every watched PID and exists only while something is watched.
 *
 * Exit status: an adopted process's is unknown (nothing here can tell). Our own children are
 * started with child_process, whose 'exit' event carries the status libuv reaped as the parent.
 */
export class PollingObserver implements ExitObserver {
  readonly backend = 'polling' as const;
  private readonly watched = new Map<number, Polled>();
  private timer: NodeJS.Timeout | null = null;
  private nextToken = 1;

  constructor(readonly why: string, private readonly intervalMs: number = DEFAULT_POLL_INTERVAL_MS) {}

  attach(pid: number): AttachedProcess {
    const exists = killZero(pid);
    if (exists !== true) throw new SystemError(exists, 'kill');
    const stat = readProcStat(pid);
    const token = this.nextToken++;
    let resolveExit!: (exit: ObservedExit) => void;
    const exited = new Promise<ObservedExit>((resolve) => (resolveExit = resolve));
    this.watched.set(token, { pid, startTime: stat?.startTimeTicks ?? null, resolve: resolveExit });
    this.arm();
    const close = (): void => {
      if (this.watched.delete(token)) this.disarmIfIdle();
    };
    const watch: Watch = { pid, exited, close, [Symbol.dispose]: close };
    return { pid, watch, identityStartTime: stat?.startTimeTicks ?? null, pidfd: -1 };
  }

  async spawn(req: SpawnRequest): Promise<SpawnedChild> {
    // Loaded here, not at the top: this module is loaded on every start (src/observer/select.ts),
    // and node:child_process (with net and streams) was the largest single cost of a pidfd start.
    const { spawn: spawnChild } = require('node:child_process') as typeof import('node:child_process');
    const child = spawnChild(req.command, [...req.args], {
      cwd: req.cwd ?? undefined,
      env: req.env,
      stdio: 'inherit',
      detached: true, // setsid(): the workload never shares the wrapper's session or its signals
    });
    await new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', (err) => reject(toSpawnError(err, req.command)));
    });
    const pid = child.pid as number;
    // Without a native spawn there is no pre-exec hook: the PID is written right after the
    // start, so anything the workload forks in its first instant may escape (docs/native.md).
    const placementFailures: PlacementFailure[] = [];
    for (const path of req.placement?.cgroupProcsPaths ?? []) {
      try {
        const fd = openSync(path, fsc.O_WRONLY);
        try {
          writeSync(fd, String(pid));
        } finally {
          closeSync(fd);
        }
      } catch (err) {
        const e = err as NodeJS.ErrnoException;
        placementFailures.push({ path, error: new SystemError(-(e.errno ?? -5), 'write', path) });
      }
    }
    const keeper = { pid: null, why: keeperWhy(req, `the polling backend starts workloads directly (${this.why})`) };
    try {
      req.onCreated?.({ pid, via: 'child_process', intoCgroup: false, placementFailures, keeper });
    } catch {
      /* the caller's problem, never the workload's */
    }
    let open = true;
    const exited = new Promise<ObservedExit>((resolve) => {
      child.once('exit', (code, signal) => {
        if (open) resolve({ exitedAtMs: Date.now(), status: fromNodeExit(code, signal) });
      });
    });
    const close = (): void => {
      if (!open) return;
      open = false;
      child.removeAllListeners('exit');
      child.unref(); // stop keeping the loop alive for a process we no longer watch
    };
    return {
      pid,
      watch: { pid, exited, close, [Symbol.dispose]: close },
      via: 'child_process',
      intoCgroup: false,
      placementFailures,
      keeper,
    };
  }

  private arm(): void {
    if (this.timer === null) this.timer = setInterval(() => this.tick(), this.intervalMs);
  }

  private disarmIfIdle(): void {
    if (this.watched.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const now = Date.now();
    for (const [token, p] of this.watched) {
      if (stillAlive(p)) continue;
      this.watched.delete(token);
      p.resolve({ exitedAtMs: now, status: UNKNOWN_EXIT });
    }
    this.disarmIfIdle();
  }
}

/** kill(pid, 0): true when the process exists (EPERM included), else the positive errno. */
function killZero(pid: number): true | number {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EPERM') return true;
    return -((err as NodeJS.ErrnoException).errno ?? -3);
  }
}

function stillAlive(p: Polled): boolean {
  if (killZero(p.pid) !== true) return false;
  const stat = readProcStat(p.pid);
  if (stat === null) return true; // exists (kill said so) but hidden from us (hidepid): alive
  if (p.startTime !== null && stat.startTimeTicks !== p.startTime) return false; // PID reused
  return stat.state !== 'Z' && stat.state !== 'X';
}

/** child_process's spawn error (`code`, negative `errno`, `syscall: 'spawn <cmd>'`) in our shape. */
function toSpawnError(err: Error, command: string): Error {
  const e = err as NodeJS.ErrnoException;
  if (typeof e.code !== 'string' || typeof e.errno !== 'number') return err;
  return new SystemError(Math.abs(e.errno), EXEC_ERRORS.has(e.code) ? 'execve' : 'spawn', command);
}

