/**
 * `ffrtmp watch`: finds new target processes (ffmpeg, gst-launch-1.0, ...) and governs each
 * exactly as `ffrtmp attach` does, through the core's `attach()`, one job per process.
 *
 * Discovery (docs/watch.md): the netlink process connector when it can be used (exec events,
 * filtered by `comm` in the addon), else a /proc scan every `scanIntervalMs`. The order loses
 * nothing: subscribe first, then one scan (what already runs), then events; a slower
 * reconciliation scan catches anything an overrun or a race let through, and an overrun triggers
 * one at once.
 *
 * Identity is PID + start time: a process is looked at once per identity (`known`), so a reused
 * PID is a new process and a process is never attached twice by this daemon; processes governed
 * by another ffrtmp (journal, job cgroup, a keeper's child) are refused by the core and skipped.
 *
 * The daemon never signals anything. `stop()` detaches from every governed process (each job's
 * `detached` record is written by the core; the next `ffrtmp watch` or `ffrtmp recover` adopts
 * them) and resolves when all are settled.
 */
import { setMaxListeners } from 'node:events';
import { readFileSync, readlinkSync } from 'node:fs';
import { basename } from 'node:path';
import { attach } from '../core/attach';
import type { GovernanceOptions } from '../core/governance';
import type { JobRecorder, StartedRecord } from '../journal/types';
import { NoSuchProcessError, RefusedError, UsageError } from '../model/errors';
import { JOB_ID_MAX_LENGTH } from '../model/job-id';
import type { Result } from '../model/result';
import type { ExitObserver } from '../observer/types';
import { readProcStat } from '../observer/procfs';
import { evaluate, UserNames } from './filters';
import { ageMs, ancestors, inspect, listPids, targetName, uptimeSeconds, type ProcInfo } from './procinfo';
import type { WatchConfig, WatchFilters } from './types';

/** How a process was found. */
export type DiscoveryPath = 'event' | 'scan' | 'reconcile';

/** Why a process was looked at and left alone. */
export type SkipReason = 'gone' | 'not_target' | 'own' | 'governed' | 'filtered' | 'kernel_thread';

/** Why governing a process failed (a metric label). */
export type AttachFailure = 'limit_refused' | 'refused' | 'error';

export type WatchEvent =
  | { readonly kind: 'governed'; readonly pid: number; readonly command: string; readonly path: DiscoveryPath; readonly latencyMs: number; readonly started: StartedRecord }
  | { readonly kind: 'ended'; readonly result: Result }
  | { readonly kind: 'detached'; readonly result: Result }
  | { readonly kind: 'skipped'; readonly pid: number; readonly command: string | null; readonly why: SkipReason; readonly detail: string }
  | { readonly kind: 'attach_failed'; readonly pid: number; readonly command: string; readonly reason: AttachFailure; readonly message: string }
  | { readonly kind: 'overrun'; readonly count: number }
  | { readonly kind: 'scanned'; readonly path: DiscoveryPath; readonly found: number; readonly durationMs: number }
  | { readonly kind: 'discovery_failed'; readonly message: string };

/** One batch of exec events from the process connector (src/native/proc-events.ts). */
export interface ExecBatch {
  readonly execs: readonly { readonly pid: number; readonly timestampNs: number }[];
  readonly overruns: number;
  readonly received: number;
  readonly filtered: number;
  readonly error?: { readonly code: string; readonly message: string };
}

/** An open process-connector subscription. */
export interface EventSource {
  setTargets(targets: readonly string[]): void;
  close(): void;
  /** Cumulative counters of the connector (the source of truth for the metrics). */
  stats(): { readonly received: number; readonly filtered: number; readonly crossed: number; readonly overruns: number; readonly drains: number };
  readonly kernelFilter: boolean;
  readonly rcvbufBytes: number;
}

/** Opens the connector; throws (a SystemError) when it cannot be used here. */
export type OpenEvents = (targets: readonly string[], onBatch: (b: ExecBatch) => void) => EventSource;

export interface WatchDaemonOptions {
  config: WatchConfig;
  observer: ExitObserver;
  recorder?: JobRecorder;
  /** cgroup root / env; the limits come from the config, per command. */
  governance?: Omit<GovernanceOptions, 'limits'>;
  intent?: string;
  /** The connector (absent: scan only). */
  openEvents?: OpenEvents;
  onEvent?: (e: WatchEvent) => void;
  /** Job id of a process: default `auto-<command>-<pid>`. */
  jobIdFor?: (command: string, pid: number) => string;
}

/** What the daemon has seen of one identity. */
type Known = 'governing' | 'governed' | 'skipped' | 'pending';

export interface DiscoveryState {
  /** What was asked for. */
  readonly requested: WatchConfig['discovery'];
  /** What runs: events (the connector) or scan. */
  readonly mode: 'events' | 'scan';
  /** Why the connector is not in use, when `auto` fell back to the scan. */
  readonly fallbackWhy: string | null;
  readonly kernelFilter: boolean;
  readonly rcvbufBytes: number;
}

export interface WatchStats {
  discovered: Record<DiscoveryPath, number>;
  skipped: Record<SkipReason, number>;
  attachFailures: Record<AttachFailure, number>;
  overruns: number;
  governedNow: number;
  governedTotal: number;
  lastOverrunAtMs: number | null;
  lastAttachFailureAtMs: number | null;
  lastAttachFailure: string | null;
  /** The last full look at /proc (start scan, scan, reconciliation) that completed. */
  lastScanAtMs: number | null;
  lastScanPath: DiscoveryPath | null;
  /** The connector reported an error it did not recover from. */
  eventsError: string | null;
}

const key = (pid: number, ticks: string): string => `${pid}:${ticks}`;

/** The longest the daemon looks at candidates before it lets the event loop run (ms). */
const SLICE_MS = 10;

/** Characters a job id cannot hold become `_`. */
function jobIdPart(s: string): string {
  return s.replace(/[^A-Za-z0-9._:@+-]/g, '_');
}

export function defaultJobId(command: string, pid: number): string {
  return `auto-${jobIdPart(command)}-${pid}`.slice(0, JOB_ID_MAX_LENGTH);
}

export class WatchDaemon {
  private config: WatchConfig;
  private targets: Set<string>;
  private readonly known = new Map<string, Known>();
  /** pid → identity key, for pruning what a scan no longer sees. */
  private readonly byPid = new Map<number, string>();
  private readonly inFlight = new Set<Promise<unknown>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly abort = new AbortController();
  private readonly users = new UserNames();
  private events: EventSource | null = null;
  private scanTimer: NodeJS.Timeout | null = null;
  private reconcileTimer: NodeJS.Timeout | null = null;
  private rescanQueued = false;
  private stopped = false;
  /**
   * Candidates waiting to be looked at, in arrival order, and their pids (a scan does not queue a
   * pid twice). Drained a slice at a time (`SLICE_MS`) so that a burst of a thousand never holds
   * the event loop: exits, /health and SIGTERM are served in between.
   */
  private readonly queue: { pid: number; path: DiscoveryPath; seenAt: number; ticks?: string }[] = [];
  private readonly queued = new Set<number>();
  private pumping = false;
  private discovery: DiscoveryState;
  readonly stats: WatchStats = {
    discovered: { event: 0, scan: 0, reconcile: 0 },
    skipped: { gone: 0, not_target: 0, own: 0, governed: 0, filtered: 0, kernel_thread: 0 },
    attachFailures: { limit_refused: 0, refused: 0, error: 0 },
    overruns: 0,
    governedNow: 0,
    governedTotal: 0,
    lastOverrunAtMs: null,
    lastAttachFailureAtMs: null,
    lastAttachFailure: null,
    lastScanAtMs: null,
    lastScanPath: null,
    eventsError: null,
  };
  /** Discovery latencies (ms) as they are measured, for the metrics layer to drain. */
  onLatency: ((path: DiscoveryPath, ms: number) => void) | null = null;

  constructor(private readonly opts: WatchDaemonOptions) {
    // One attach() per process, each listening on this signal until its process ends: hundreds.
    setMaxListeners(0, this.abort.signal);
    this.config = opts.config;
    this.targets = new Set(opts.config.targets);
    this.discovery = { requested: opts.config.discovery, mode: 'scan', fallbackWhy: null, kernelFilter: false, rcvbufBytes: 0 };
  }

  /**
   * Jobs adopted beside the daemon (what an earlier watch left open, adopted by the caller through
   * recover): counted in `governedNow`, so /health and /metrics show every process watched.
   */
  adopted(delta: 1 | -1): void {
    this.stats.governedNow += delta;
  }

  /** The connector's counters (zeros in scan mode); frozen at their last values once stopped. */
  connectorStats(): ReturnType<EventSource['stats']> {
    if (this.events !== null) this.lastConnectorStats = this.events.stats();
    return this.lastConnectorStats;
  }

  private lastConnectorStats: ReturnType<EventSource['stats']> = { received: 0, filtered: 0, crossed: 0, overruns: 0, drains: 0 };

  get discoveryState(): DiscoveryState {
    return this.discovery;
  }

  get currentConfig(): WatchConfig {
    return this.config;
  }

  /**
   * Subscribes (events, unless `scan` was asked for or the connector cannot be used and `auto`
   * allows the fallback), then scans /proc once, then starts the timers. Throws a SystemError
   * when `events` was asked for and the connector cannot be used: nothing is left running.
   */
  async start(): Promise<DiscoveryState> {
    const want = this.config.discovery;
    if (want !== 'scan') {
      try {
        if (this.opts.openEvents === undefined) throw new Error('the process connector is not available in this build');
        this.events = this.opts.openEvents(this.config.targets, (b) => this.onBatch(b));
        this.discovery = { requested: want, mode: 'events', fallbackWhy: null, kernelFilter: this.events.kernelFilter, rcvbufBytes: this.events.rcvbufBytes };
      } catch (err) {
        if (want === 'events') throw err;
        this.discovery = { requested: want, mode: 'scan', fallbackWhy: describe(err), kernelFilter: false, rcvbufBytes: 0 };
      }
    } else {
      this.discovery = { requested: want, mode: 'scan', fallbackWhy: null, kernelFilter: false, rcvbufBytes: 0 };
    }
    this.scan('scan');
    this.schedule();
    return this.discovery;
  }

  /** New settings (SIGHUP): targets, intervals, limits and filters apply to processes found from now on. */
  reload(config: WatchConfig): void {
    this.config = config;
    this.targets = new Set(config.targets);
    this.events?.setTargets(config.targets);
    // Processes left alone under the old settings are looked at again under the new ones.
    for (const [k, v] of this.known) if (v === 'skipped') this.known.delete(k);
    this.schedule();
    this.scan('reconcile');
  }

  /** Detaches from everything governed (their `detached` records are written) and stops. */
  async stop(reason = 'stop'): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.connectorStats();
    this.events?.close();
    this.events = null;
    this.queue.length = 0;
    this.queued.clear();
    for (const t of [this.scanTimer, this.reconcileTimer, ...this.timers]) if (t !== null) clearTimeout(t);
    this.timers.clear();
    this.abort.abort(reason);
    while (this.inFlight.size > 0) await Promise.allSettled([...this.inFlight]);
  }

  private schedule(): void {
    if (this.stopped) return;
    if (this.scanTimer !== null) clearInterval(this.scanTimer);
    if (this.reconcileTimer !== null) clearInterval(this.reconcileTimer);
    this.scanTimer = null;
    this.reconcileTimer = null;
    if (this.discovery.mode === 'scan') {
      this.scanTimer = setInterval(() => this.scan('scan'), this.config.scanIntervalMs);
    } else {
      this.reconcileTimer = setInterval(() => this.scan('reconcile'), this.config.reconcileIntervalMs);
    }
  }

  private onBatch(b: ExecBatch): void {
    if (this.stopped) return;
    // The exec's kernel timestamp (CLOCK_MONOTONIC) on the performance.now() clock: both read now.
    const now = process.hrtime.bigint();
    const perfNow = performance.now();
    for (const e of b.execs) {
      const sinceExecMs = Number(now - BigInt(Math.trunc(e.timestampNs))) / 1e6;
      this.enqueue(e.pid, 'event', perfNow - Math.max(0, sinceExecMs));
    }
    if (b.overruns > 0) {
      this.stats.overruns += b.overruns;
      this.stats.lastOverrunAtMs = Date.now();
      this.opts.onEvent?.({ kind: 'overrun', count: b.overruns });
      this.queueRescan();
    }
    if (b.error !== undefined) {
      this.stats.eventsError = `${b.error.code}: ${b.error.message}`;
      this.opts.onEvent?.({ kind: 'discovery_failed', message: `process connector: ${this.stats.eventsError}` });
      this.queueRescan();
    }
  }

  /** One reconciliation as soon as the current turn ends (an overrun lost events: find them). */
  private queueRescan(): void {
    if (this.rescanQueued) return;
    this.rescanQueued = true;
    setImmediate(() => {
      this.rescanQueued = false;
      this.scan('reconcile');
    });
  }

  /** Looks at every process in /proc; forgets identities that are gone. */
  private scan(path: DiscoveryPath): void {
    if (this.stopped) return;
    const t0 = performance.now();
    const pids = listPids();
    const seen = new Set<number>();
    let found = 0;
    const uptime = uptimeSeconds();
    const perfAtUptime = performance.now(); // start times are on the uptime clock: convert once
    for (const pid of pids) {
      seen.add(pid);
      // Cheap first: argv[0] and the executable's name.
      const argv0 = readArgv0(pid);
      if (argv0 === null) continue;
      const exeBase = this.targets.has(basename(argv0)) ? null : readExeBase(pid);
      if (targetName({ argv0, exeBase }, this.targets) === null) continue;
      if (this.queued.has(pid)) continue;
      const ticks = readProcStat(pid)?.startTimeTicks;
      if (ticks === undefined || this.known.has(key(pid, ticks))) continue;
      // Found now, started `age` ago: that is how late the scan is.
      this.enqueue(pid, path, perfAtUptime - ageMs(ticks, uptime), ticks);
      found++;
    }
    for (const [pid, k] of this.byPid) {
      if (!seen.has(pid) && this.known.get(k) !== 'governing' && this.known.get(k) !== 'governed') {
        this.known.delete(k);
        this.byPid.delete(pid);
      }
    }
    this.stats.lastScanAtMs = Date.now();
    this.stats.lastScanPath = path;
    this.opts.onEvent?.({ kind: 'scanned', path, found, durationMs: performance.now() - t0 });
  }

  private enqueue(pid: number, path: DiscoveryPath, seenAt: number, ticks?: string): void {
    if (this.queued.has(pid)) return;
    this.queued.add(pid);
    this.queue.push({ pid, path, seenAt, ...(ticks !== undefined ? { ticks } : {}) });
    if (!this.pumping) {
      this.pumping = true;
      queueMicrotask(() => this.pump());
    }
  }

  /** Looks at queued candidates for at most SLICE_MS, then lets the event loop run. */
  private pump(): void {
    const until = performance.now() + SLICE_MS;
    while (this.queue.length > 0 && !this.stopped) {
      const c = this.queue.shift()!;
      this.queued.delete(c.pid);
      this.consider(c.pid, c.path, c.seenAt, c.ticks);
      if (performance.now() >= until && this.queue.length > 0) {
        setImmediate(() => this.pump());
        return;
      }
    }
    this.pumping = false;
  }

  private remember(pid: number, ticks: string, state: Known): void {
    const k = key(pid, ticks);
    this.known.set(k, state);
    const old = this.byPid.get(pid);
    if (old !== undefined && old !== k && this.known.get(old) !== 'governing' && this.known.get(old) !== 'governed') this.known.delete(old);
    this.byPid.set(pid, k);
  }

  private skip(pid: number, ticks: string | null, command: string | null, why: SkipReason, detail: string): false {
    this.stats.skipped[why]++;
    if (ticks !== null) this.remember(pid, ticks, 'skipped');
    this.opts.onEvent?.({ kind: 'skipped', pid, command, why, detail });
    return false;
  }

  /**
   * One candidate: inspected (one consistent look), matched, excluded or filtered, then governed.
   * `seenAt` is when the process became discoverable (performance.now() clock): the exec event's
   * time, or for a scan its start time.
   */
  private consider(pid: number, path: DiscoveryPath, seenAt: number, expectTicks?: string): boolean {
    if (this.stopped) return false;
    const info = inspect(pid, expectTicks);
    if (info === null) {
      this.stats.skipped.gone++;
      return false; // exited (or exec'd into something else and gone) before we could look
    }
    const k = key(pid, info.startTimeTicks);
    if (this.known.has(k)) return false;
    const command = targetName(info, this.targets);
    if (command === null) {
      // The connector matched its comm, but neither argv[0] nor the executable is a target.
      this.skip(pid, info.startTimeTicks, null, 'not_target', `argv[0] ${info.argv0} and exe ${info.exeBase ?? '?'} are not targets`);
      return false;
    }
    if (info.kernelThread || pid === 1) return this.skip(pid, info.startTimeTicks, command, 'kernel_thread', 'pid 1 or a kernel thread');
    const chain = ancestors(pid, info.ppid);
    if (pid === process.pid || chain.includes(process.pid)) return this.skip(pid, info.startTimeTicks, command, 'own', 'started by this ffrtmp watch');
    // A child of ffrtmp-keeper is a `run` job's workload: governed already (its record may not be
    // in the journal yet when its exec event arrives).
    if (readComm(info.ppid) === 'ffrtmp-keeper') return this.skip(pid, info.startTimeTicks, command, 'governed', `its parent ${info.ppid} is an ffrtmp keeper`);

    const filters = this.config.commands[command]?.filters;
    const verdict = evaluate(
      { uid: info.uid, user: this.users.nameOf(info.uid), ppid: info.ppid, ageMs: ageMs(info.startTimeTicks), cwd: info.cwd },
      filters,
      this.config.filters,
      command,
    );
    if (verdict.pass === false) return this.skip(pid, info.startTimeTicks, command, 'filtered', verdict.why);
    if (verdict.pass === 'later') {
      this.remember(pid, info.startTimeTicks, 'pending');
      const t = setTimeout(() => {
        this.timers.delete(t);
        if (this.known.get(k) !== 'pending') return;
        this.known.delete(k);
        this.consider(pid, path, seenAt, info.startTimeTicks);
      }, verdict.retryInMs);
      this.timers.add(t);
      return false;
    }
    this.govern(info, command, path, seenAt);
    return true;
  }

  private govern(info: ProcInfo, command: string, path: DiscoveryPath, seenAt: number, jobId?: string): void {
    const { pid, startTimeTicks: ticks } = info;
    this.remember(pid, ticks, 'governing');
    const job = jobId ?? (this.opts.jobIdFor ?? defaultJobId)(command, pid);
    const limits = this.config.commands[command]?.limits ?? this.config.defaultLimits;
    let counted = false;
    const p = attach({
      pids: [pid],
      jobIds: [job],
      startTimes: [ticks],
      ...(this.opts.intent !== undefined ? { intent: this.opts.intent } : {}),
      signal: this.abort.signal,
      observer: this.opts.observer,
      ...(this.opts.recorder !== undefined ? { recorder: this.opts.recorder } : {}),
      governance: { ...this.opts.governance, limits },
      onStarted: (started) => {
        const latencyMs = performance.now() - seenAt;
        counted = true;
        this.known.set(key(pid, ticks), 'governed');
        this.stats.discovered[path]++;
        this.stats.governedNow++;
        this.stats.governedTotal++;
        this.onLatency?.(path, latencyMs);
        this.opts.onEvent?.({ kind: 'governed', pid, command, path, latencyMs, started });
      },
      onResult: (result) => this.opts.onEvent?.({ kind: 'ended', result }),
      onDetached: (result) => this.opts.onEvent?.({ kind: 'detached', result }),
    })
      .catch((err: unknown) => {
        this.known.delete(key(pid, ticks));
        if (err instanceof NoSuchProcessError) {
          this.skip(pid, null, command, 'gone', `exited before it was governed`);
        } else if (err instanceof RefusedError && err.what === 'target') {
          this.skip(pid, ticks, command, 'governed', err.message);
        } else if (err instanceof RefusedError && err.what === 'job_id' && jobId === undefined) {
          // The job id is still open (a previous process with this PID has not been recorded as
          // ended yet): the identity makes it unique.
          this.govern(info, command, path, seenAt, `${job}-${ticks}`.slice(0, JOB_ID_MAX_LENGTH));
        } else {
          this.remember(pid, ticks, 'skipped'); // not retried: reported once, in the metrics and /health
          const reason: AttachFailure = err instanceof UsageError ? 'limit_refused' : err instanceof RefusedError ? 'refused' : 'error';
          this.stats.attachFailures[reason]++;
          this.stats.lastAttachFailureAtMs = Date.now();
          this.stats.lastAttachFailure = `pid ${pid} (${command}): ${describe(err)}`;
          this.opts.onEvent?.({ kind: 'attach_failed', pid, command, reason, message: describe(err) });
        }
      })
      .finally(() => {
        this.inFlight.delete(p);
        if (counted) this.stats.governedNow--;
        if (this.known.get(key(pid, ticks)) === 'governed') {
          this.known.delete(key(pid, ticks));
          if (this.byPid.get(pid) === key(pid, ticks)) this.byPid.delete(pid);
        }
      });
    this.inFlight.add(p);
  }
}

function describe(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.message ?? String(err);
}

function readArgv0(pid: number): string | null {
  try {
    const t = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    if (t === '') return null; // kernel thread or zombie
    const nul = t.indexOf('\0');
    return nul < 0 ? t : t.slice(0, nul);
  } catch {
    return null;
  }
}

function readExeBase(pid: number): string | null {
  try {
    const l = readlinkSync(`/proc/${pid}/exe`);
    return basename(l.endsWith(' (deleted)') ? l.slice(0, -10) : l);
  } catch {
    return null;
  }
}

function readComm(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'latin1').replace(/\n$/, '');
  } catch {
    return null;
  }
}

export type { WatchFilters };
