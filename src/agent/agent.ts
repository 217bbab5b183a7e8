/**
 * The queue worker: takes jobs from BullMQ queues on Redis and runs each once, governed (the
 * wrapper path) or not (the legacy path), and tells the queue how each ended. Crash-safe: an agent
 * killed with -9, or stopped, is replaced by a new one (same state dir) that takes its queue jobs
 * back and completes each with its real end. Design: docs/agent.md.
 *
 * BullMQ is used in its manual mode (a Worker without a processor: `getNextJob` with a token we
 * choose, `extendLock`, `moveToCompleted` / `moveToFailed`), because the agent must own exactly
 * what BullMQ's processor mode keeps to itself:
 * - the lock token, persisted (the ledger) before the workload starts, so that a restarted agent
 *   can re-take the lock (`extendLock` succeeds exactly while the lock key still holds that
 *   token) and complete the job;
 * - the concurrency count, which includes the jobs adopted after a restart;
 * - the stop: SIGTERM detaches from the running workloads (they continue) and the agent exits at
 *   once, without telling the queue anything about them (their locks simply stop being renewed);
 * - what happens when the queue will not take the end any more (the lock was lost): the outcome
 *   is attached to the job (a log line), which needs no lock.
 *
 * Never twice: the Workers run with `maxStalledCount: 0` (a job whose lock expires is failed by
 * the stalled check, never put back to wait), the agent never retries (UnrecoverableError), and it
 * refuses a job that was started before and never finished (`attemptsStarted > attemptsMade + 1`:
 * a worker of the fleet with another maxStalledCount put it back).
 *
 * The wrapper path's workloads survive the agent (keeper, journal); their adoption after a restart
 * is done by whoever adopts orphans on the node (the CLI composes `recover` beside the agent):
 * the agent only waits for the Result of each run it holds to appear (resultRecorded(), and the
 * journal it follows), then tells the queue.
 */
import { randomBytes } from 'node:crypto';
import { statSync } from 'node:fs';
import { Job, Queue, UnrecoverableError, Worker } from 'bullmq';
import { isSameProcessAlive, ownIdentity, readStartTimeTicks } from '../journal/identity';
import { JournalFollower } from '../journal/follower';
import { Journal, type JournalRecorder } from '../journal/journal';
import type { JobRecorder, JournalRecord, ProcessIdentity, ResultJournalRecord, StartedRecord } from '../journal/types';
import { isoMs } from '../model/build-result';
import { RefusedError } from '../model/errors';
import { shown } from '../model/quote';
import type { Result } from '../model/result';
import type { ExitObserver } from '../observer/types';
import { runWrapperJob } from './execute';
import { agentEnvironment, JobDataError, parseJobData, type AgentJob } from './job';
import { Ledger, LEDGER_VERSION, type LedgerEntry, type LedgerProblem } from './ledger';
import { executeLegacy, legacyOutcome } from './legacy';
import { failureReason, resultLogLine, succeeded, type JobOutcome } from './outcome';
import { connectionOptions, isConnectionError } from './redis';

export type JobPath = 'wrapper' | 'legacy';

export interface AgentOptions {
  redisUrl: string;
  queues: readonly string[];
  /** Jobs held at once (running, and adopted after a restart), never exceeded. */
  concurrency: number;
  /** The BullMQ worker name (stored on each job it processes) and part of every lock token. */
  workerId: string;
  /** The journal's directory; the ledger lives in `<stateDir>/agent/`. */
  stateDir: string;
  /** How long a lock lasts without renewal: the window a restarted agent has to take its jobs back. */
  lockDurationMs: number;
  /** How often this agent's stalled check runs (BullMQ default 30000). */
  stalledIntervalMs?: number;
  /** The node's kill switch: false sends every job down the legacy path. */
  wrapperAllowed: boolean;
  observer: ExitObserver;
  cgroupRoot?: string;
  /** Default true (see RunSpec.keeper). */
  keeper?: boolean;
  /** The environment workloads inherit (minus the agent's settings). Default process.env. */
  baseEnv?: NodeJS.ProcessEnv;
  /** Seconds a fetch waits for a job before asking again (BullMQ drainDelay, default 5). */
  drainDelaySec?: number;
  onEvent?: (e: AgentEvent) => void;
}

/** Where a queue job ended up when the agent told the queue. */
export type QueueState =
  /** Exit 0: completed, the outcome is its return value. */
  | 'completed'
  /** Failed (UnrecoverableError), the outcome in its logs. */
  | 'failed'
  /** The lock was lost (the queue failed the job meanwhile, as stalled): the outcome is in its logs. */
  | 'attached'
  /** The queue job no longer exists (removed): only the journal has the end. */
  | 'gone';

export interface JobRef {
  readonly queue: string;
  readonly queue_job_id: string;
  readonly job_id: string;
  readonly path: JobPath;
}

export type AgentEvent =
  | ({ readonly kind: 'taken' } & JobRef)
  | { readonly kind: 'refused'; readonly queue: string; readonly queue_job_id: string; readonly reason: string }
  | ({ readonly kind: 'finished'; readonly outcome: JobOutcome; readonly queue_state: QueueState; readonly adopted: boolean } & JobRef)
  | ({ readonly kind: 'failed_unstarted'; readonly reason: string; readonly queue_state: QueueState } & JobRef)
  | ({ readonly kind: 'detached'; readonly pid: number | null } & JobRef)
  | ({ readonly kind: 'adopted'; readonly lock: 'retaken' | 'lost' | 'job_gone'; readonly run_id: string | null; readonly pid: number | null } & JobRef)
  | ({ readonly kind: 'lock_lost' } & JobRef)
  | { readonly kind: 'redis'; readonly state: 'up' | 'down'; readonly detail: string }
  | { readonly kind: 'problem'; readonly message: string };

export interface AgentStats {
  received: Record<JobPath, number>;
  completed: Record<JobPath, number>;
  failed: Record<JobPath, number>;
  refused: number;
  adopted: number;
  lockRenewalsFailed: number;
  redisUp: boolean;
}

/** What /health and /ready are made of (src/agent/endpoint.ts). */
export interface AgentStatus {
  readonly redisUp: boolean;
  /** Since when Redis has been out of reach (or not reached yet since the start); null while up. */
  readonly redisDownSinceMs: number | null;
  readonly lastConnectionError: string | null;
  /** The jobs an earlier agent held: how many, and whether their locks have all been looked at (re-taken or found lost). */
  readonly adopting: number;
  readonly adoptionDone: boolean;
  readonly held: number;
  readonly concurrency: number;
  readonly journal: { readonly dir: string; readonly writable: boolean; readonly error?: string };
  readonly ledger: { readonly dir: string; readonly writable: boolean; readonly error?: string };
}

/** A queue job the agent holds: counted against the concurrency until the queue was told. */
interface Held {
  entry: LedgerEntry;
  /** null when the queue job no longer exists. */
  job: Job | null;
  lock: 'held' | 'lost';
  adopted: boolean;
  /** Telling the queue right now: renewals leave it alone. */
  concluding: boolean;
}

/** A pause that never keeps the process alive by itself (a race's loser must not delay the exit). */
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms).unref());

export class Agent {
  readonly stats: AgentStats = {
    received: { wrapper: 0, legacy: 0 },
    completed: { wrapper: 0, legacy: 0 },
    failed: { wrapper: 0, legacy: 0 },
    refused: 0,
    adopted: 0,
    lockRenewalsFailed: 0,
    redisUp: false,
  };
  private readonly workers = new Map<string, Worker>();
  /** Queues of adopted jobs this agent does not consume (any more). */
  private readonly extraQueues = new Map<string, Queue>();
  private readonly held = new Map<string, Held>();
  private fetching = 0;
  private starting = 0;
  private waiters: (() => void)[] = [];
  private readonly detach = new AbortController();
  private stopping = false;
  private renewTimer: NodeJS.Timeout | null = null;
  private renewing = false;
  private follower: JournalFollower | null = null;
  /** Runs whose Result the agent waits for (adopted ones), and Results seen for them. */
  private readonly wanted = new Map<string, (r: Result) => void>();
  private readonly seen = new Map<string, Result>();
  /** Started records of runs the ledger did not name (an agent killed before it could). */
  private readonly startedByJob = new Map<string, { run_id: string; wrapper: { pid: number; start_time_ticks: string | null } }[]>();
  private readonly tasks = new Set<Promise<unknown>>();
  private readonly journal: Journal;
  private readonly ledger: Ledger;
  private readonly me = ownIdentity();
  private adoptionReady: Promise<void> = Promise.resolve();
  private loops: Promise<void>[] = [];
  private lastConnectionError = '';
  private redisDownSinceMs: number | null = Date.now();
  private adopting = 0;
  private adoptionDone = false;
  private probeTimer: NodeJS.Timeout | null = null;
  private probing = false;
  private claimed = false;

  constructor(private readonly opts: AgentOptions) {
    this.journal = new Journal({ dir: opts.stateDir });
    this.ledger = new Ledger(opts.stateDir);
  }

  private emit(e: AgentEvent): void {
    try {
      this.opts.onEvent?.(e);
    } catch {
      /* a renderer's bug never stops the agent */
    }
  }

  /** Jobs held now (running or adopted), and the concurrency. */
  load(): { held: number; concurrency: number } {
    return { held: this.held.size, concurrency: this.opts.concurrency };
  }

  /** Redis, adoption, journal and ledger, as /health and /ready show them. */
  status(): AgentStatus {
    const j = this.journal.checkWritable();
    const l = this.ledger.checkWritable();
    return {
      redisUp: this.stats.redisUp,
      redisDownSinceMs: this.stats.redisUp ? null : this.redisDownSinceMs,
      lastConnectionError: this.lastConnectionError === '' ? null : this.lastConnectionError,
      adopting: this.adopting,
      adoptionDone: this.adoptionDone,
      held: this.held.size,
      concurrency: this.opts.concurrency,
      journal: { dir: this.journal.dir, writable: j.writable, ...(j.writable ? {} : { error: `${j.error.code ?? j.error.op}: ${j.error.message}` }) },
      ledger: { dir: this.ledger.dir, writable: l.writable, ...(l.writable ? {} : { error: l.error }) },
    };
  }

  /** A ping on a Worker's connection: Redis seen up (or down) without waiting for a fetch or a renewal. */
  private async probe(): Promise<void> {
    if (this.probing || this.stopping) return;
    const w = this.workers.values().next().value as Worker | undefined;
    if (w === undefined) return;
    this.probing = true;
    try {
      await (await w.getBackend().client).runCommand('ping', []);
      this.redisReached();
    } catch (err) {
      this.connectionTrouble(err);
    } finally {
      this.probing = false;
    }
  }

  /**
   * Takes the state dir for this agent (RefusedError when a live agent holds it); start() does it
   * when it was not done. Lets the CLI check the state dir before binding its endpoint.
   */
  claim(): void {
    if (this.claimed) return;
    const got = this.ledger.acquire(this.me, this.opts.workerId);
    if (!got.acquired) {
      throw new RefusedError(
        `the state dir ${shown(this.opts.stateDir)} is used by another agent (pid ${got.holder.pid}${got.holder.worker_id ? `, worker id ${got.holder.worker_id}` : ''}): one agent per state dir`,
        'target',
      );
    }
    this.claimed = true;
  }

  /**
   * Takes the state dir (RefusedError when a live agent holds it), reads the ledger and starts
   * taking back the jobs it names, then starts fetching. Returns at once: Redis being unreachable
   * does not delay it (the agent says so and retries).
   */
  start(): { adopting: number; problems: LedgerProblem[] } {
    this.claim();
    for (const q of this.opts.queues) {
      const w = new Worker(q, null, {
        connection: connectionOptions(this.opts.redisUrl),
        name: this.opts.workerId,
        lockDuration: this.opts.lockDurationMs,
        maxStalledCount: 0,
        ...(this.opts.stalledIntervalMs !== undefined ? { stalledInterval: this.opts.stalledIntervalMs } : {}),
        drainDelay: this.opts.drainDelaySec ?? 5,
        autorun: false,
      });
      w.on('error', (err) => this.connectionTrouble(err));
      this.workers.set(q, w);
    }
    const { entries, problems } = this.ledger.list();
    for (const e of entries) {
      this.held.set(e.key, { entry: e, job: null, lock: 'lost', adopted: true, concluding: false });
      if (e.run_id !== undefined) this.wanted.set(e.run_id, () => {});
    }
    // The journal once, from the start: Results of the runs held, started records of runs the
    // ledger could not name; then followed, for Results an adopter writes later.
    const unnamed = new Map(entries.filter((e) => e.path === 'wrapper' && e.run_id === undefined && e.outcome === undefined).map((e) => [e.job_id, e.agent] as const));
    this.follower = new JournalFollower({ dir: this.journal.dir, onRecord: (r) => this.onRecord(r, unnamed) });
    this.follower.sync();
    this.follower.start();
    const phases = entries.map((e) => this.adopt(this.held.get(e.key)!));
    this.adopting = entries.length;
    this.adoptionReady = Promise.allSettled(phases.map((p) => p.lockPhase)).then(() => {
      if (!this.stopping) this.adoptionDone = true;
    });
    for (const p of phases) this.track(p.done);
    this.renewTimer = setInterval(() => void this.renew(), Math.max(100, Math.floor(this.opts.lockDurationMs / 2)));
    this.renewTimer.unref();
    this.probeTimer = setInterval(() => void this.probe(), 1000);
    this.probeTimer.unref();
    void this.probe();
    this.loops = this.opts.queues.map((q) =>
      this.fetchLoop(q).catch((err: unknown) => this.emit({ kind: 'problem', message: `queue ${q}: stopped taking jobs after an internal error: ${(err as Error)?.stack ?? String(err)}` })),
    );
    return { adopting: entries.length, problems };
  }

  /** A Result recorded for run `runId` (an adopter in this process, or the journal). */
  resultRecorded(runId: string, result: Result): boolean {
    if (!this.wanted.has(runId)) return false;
    this.seen.set(runId, result);
    this.wanted.get(runId)!(result);
    return true;
  }

  private onRecord(r: JournalRecord, unnamed: ReadonlyMap<string, ProcessIdentity>): void {
    if (r.type === 'result') {
      if (this.wanted.has(r.run_id)) this.resultRecorded(r.run_id, resultOf(r));
      return;
    }
    const by = r.type === 'started' ? unnamed.get(r.job_id) : undefined;
    if (r.type === 'started' && by !== undefined && r.wrapper.pid === by.pid && r.wrapper.start_time_ticks === by.start_time_ticks) {
      const list = this.startedByJob.get(r.job_id) ?? [];
      list.push({ run_id: r.run_id, wrapper: r.wrapper });
      this.startedByJob.set(r.job_id, list);
      this.wanted.set(r.run_id, () => {});
    }
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch((err: unknown) => this.emit({ kind: 'problem', message: `internal error: ${(err as Error)?.stack ?? String(err)}` }));
    this.tasks.add(t);
    void t.finally(() => this.tasks.delete(t));
  }

  // ------------------------------------------------------------------------------------------
  // Redis state

  private connectionTrouble(err: unknown): void {
    if (this.stopping) return;
    const e = err as { code?: string; message?: string };
    const detail = e?.code ?? e?.message ?? String(err);
    if (isConnectionError(err)) {
      if (this.stats.redisUp) this.redisDownSinceMs = Date.now();
      if (this.stats.redisUp || this.lastConnectionError === '') {
        this.emit({ kind: 'redis', state: 'down', detail: `Redis is unreachable (${detail}): retrying with backoff; running jobs continue` });
      }
      this.stats.redisUp = false;
      this.lastConnectionError = detail;
      return;
    }
    this.emit({ kind: 'problem', message: `queue: ${e?.message ?? String(err)}` });
  }

  private redisReached(): void {
    if (this.stats.redisUp) return;
    this.stats.redisUp = true;
    this.redisDownSinceMs = null;
    if (this.lastConnectionError !== '') this.emit({ kind: 'redis', state: 'up', detail: 'Redis is reachable again' });
    this.lastConnectionError = '';
  }

  // ------------------------------------------------------------------------------------------
  // Taking jobs

  private inUse(): number {
    return this.held.size + this.fetching + this.starting;
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Reserves a place for one fetch; resolves false when the agent stops. */
  private async slot(): Promise<boolean> {
    while (!this.stopping && this.inUse() >= this.opts.concurrency) {
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.stopping) return false;
    this.fetching++;
    return true;
  }

  private async fetchLoop(queue: string): Promise<void> {
    const worker = this.workers.get(queue)!;
    await this.adoptionReady; // adopted jobs count first, and their locks are ours again
    if (this.stopping) return;
    void worker.startStalledCheckTimer().catch((err: unknown) => this.connectionTrouble(err));
    let backoff = 250;
    while (await this.slot()) {
      const token = `${this.opts.workerId}:${randomBytes(12).toString('hex')}`;
      let job: Job | undefined;
      try {
        job = await worker.getNextJob(token, { block: true });
      } catch (err) {
        this.fetching--;
        this.wake();
        if (this.stopping) return;
        this.connectionTrouble(err);
        await sleep(backoff);
        backoff = Math.min(backoff * 2, 5000);
        continue;
      }
      backoff = 250;
      if (this.stopping && job === undefined) {
        this.fetching--;
        return;
      }
      this.redisReached();
      this.fetching--;
      if (job === undefined) {
        this.wake();
        // Let a loop that waits for a place (another queue) take it first: without this, at
        // concurrency 1 the loop that just came back empty takes the place again at once and
        // the other queues are never asked.
        await new Promise<void>((r) => setImmediate(r));
        continue;
      }
      this.starting++;
      this.track(this.take(queue, job, token));
    }
  }

  /** A job the queue just gave us (its lock is held with `token`). */
  private async take(queue: string, job: Job, token: string): Promise<void> {
    let counted = true;
    const uncount = (): void => {
      if (counted) {
        counted = false;
        this.starting--;
        this.wake();
      }
    };
    try {
      const id = String(job.id);
      if (job.deferredFailure) {
        // A stalled job over maxStalledCount: BullMQ put it back to wait marked to fail, and
        // leaves the failing to the worker that fetches it (its processor mode does; so do we).
        await this.refuse(queue, job, token, job.deferredFailure);
        return;
      }
      if ((job.attemptsStarted ?? 0) > (job.attemptsMade ?? 0) + 1) {
        await this.refuse(queue, job, token, `this queue job was started ${job.attemptsStarted} times and never finished: a worker with maxStalledCount above 0 put it back after a stall; ffrtmp never runs a job twice (every worker on the queue must use maxStalledCount 0)`);
        return;
      }
      let spec: AgentJob;
      try {
        spec = parseJobData(job.data);
        if (spec.workdir !== undefined) checkWorkdir(spec.workdir);
      } catch (err) {
        if (!(err instanceof JobDataError)) throw err;
        await this.refuse(queue, job, token, `invalid job data: ${err.message}`);
        return;
      }
      const path: JobPath = spec.wrapper_enabled && this.opts.wrapperAllowed ? 'wrapper' : 'legacy';
      const entry: LedgerEntry = {
        v: LEDGER_VERSION,
        key: Ledger.newKey(),
        queue,
        queue_job_id: id,
        token,
        worker_id: this.opts.workerId,
        agent: this.me,
        job_id: spec.id,
        path,
        taken_at: isoMs(Date.now()),
      };
      try {
        this.ledger.create(entry);
      } catch (err) {
        // Without the ledger a restart could not take the job back: do not start it.
        await this.refuse(queue, job, token, `not started: the agent cannot write its ledger in ${this.ledger.dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
        return;
      }
      const h: Held = { entry, job, lock: 'held', adopted: false, concluding: false };
      this.held.set(entry.key, h);
      uncount();
      this.stats.received[path]++;
      this.emit({ kind: 'taken', queue, queue_job_id: id, job_id: spec.id, path });
      if (path === 'wrapper') await this.runWrapper(h, spec);
      else await this.runLegacy(h, spec);
    } finally {
      uncount();
    }
  }

  /** Fails a job that is not started (bad data, refused): UnrecoverableError, never retried. */
  private async refuse(queue: string, job: Job, token: string, reason: string): Promise<void> {
    this.stats.refused++;
    try {
      await job.moveToFailed(new UnrecoverableError(reason), token, false);
    } catch (err) {
      this.emit({ kind: 'problem', message: `queue job ${job.id} of ${queue}: could not be marked failed (${(err as Error).message}); the stalled check will fail it` });
    }
    this.emit({ kind: 'refused', queue, queue_job_id: String(job.id), reason });
  }

  private ref(h: Held): JobRef {
    return { queue: h.entry.queue, queue_job_id: h.entry.queue_job_id, job_id: h.entry.job_id, path: h.entry.path };
  }

  /** The journal's recorder, noting the run id in the ledger as the started record is written. */
  private recorderFor(h: Held): JobRecorder {
    const inner: JournalRecorder = this.journal.recorder();
    const note = (rec: StartedRecord): void => {
      try {
        h.entry = this.ledger.update(h.entry, { run_id: rec.run_id });
      } catch (err) {
        this.emit({ kind: 'problem', message: `job ${h.entry.job_id}: the ledger was not updated (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); a restart finds its run in the journal` });
      }
    };
    return {
      claim: (jobs) => inner.claim(jobs),
      release: (ids) => inner.release(ids),
      openJobs: () => inner.openJobs(),
      openJobOf: (id) => inner.openJobOf(id),
      claimProcess: (runId, id) => inner.claimProcess(runId, id),
      governed: (runId, leaves) => inner.governed(runId, leaves),
      exitFileFor: (runId) => inner.exitFileFor(runId),
      // The run id reaches the ledger before the workload may exec (the core holds it until
      // started() returns): a ledger without one means the workload never ran.
      started: (rec) => {
        inner.started(rec);
        note(rec);
      },
      detached: (rec) => inner.detached(rec),
      finished: (result, runId) => inner.finished(result, runId),
    };
  }

  private async runWrapper(h: Held, spec: AgentJob): Promise<void> {
    let result: Result;
    try {
      result = await runWrapperJob(spec, {
        recorder: this.recorderFor(h),
        signal: this.detach.signal,
        observer: this.opts.observer,
        ...(this.opts.cgroupRoot !== undefined ? { cgroupRoot: this.opts.cgroupRoot } : {}),
        ...(this.opts.keeper !== undefined ? { keeper: this.opts.keeper } : {}),
        ...(this.opts.baseEnv !== undefined ? { baseEnv: this.opts.baseEnv } : {}),
      });
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (code !== 'ERR_USAGE' && code !== 'ERR_REFUSED') throw err;
      // Refused before anything started (a job id running now on this node, ...).
      await this.concludeUnstarted(h, `not started: ${(err as Error).message}`);
      return;
    }
    if (result.platform_sla_reason === 'detached_workload_continues') {
      this.emit({ kind: 'detached', ...this.ref(h), pid: result.pid });
      return; // held until the agent exits: the next one takes it back
    }
    await this.conclude(h, result);
  }

  private async runLegacy(h: Held, spec: AgentJob): Promise<void> {
    const r = await executeLegacy(spec, {
      env: agentEnvironment(spec, this.opts.baseEnv),
      signal: this.detach.signal,
      onSpawned: (pid) => {
        try {
          h.entry = this.ledger.update(h.entry, { pid, start_time_ticks: readStartTimeTicks(pid) });
        } catch (err) {
          this.emit({ kind: 'problem', message: `job ${h.entry.job_id}: the ledger was not updated (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})` });
        }
      },
    });
    if (r.detached) {
      this.emit({ kind: 'detached', ...this.ref(h), pid: r.pid });
      return;
    }
    await this.conclude(h, r.outcome);
  }

  // ------------------------------------------------------------------------------------------
  // Telling the queue

  /** The end is known: ledger, queue, then the ledger entry goes. */
  private async conclude(h: Held, outcome: JobOutcome): Promise<void> {
    if (h.entry.outcome === undefined) {
      try {
        h.entry = this.ledger.update(h.entry, { outcome });
      } catch {
        /* the journal has it (wrapper path); the queue is told now anyway */
      }
    }
    h.concluding = true;
    let state: QueueState;
    try {
      state = await this.tell(h, succeeded(outcome) ? { complete: outcome } : { fail: failureReason(outcome), outcome });
    } catch (err) {
      // Only when the agent is stopping (its connections closed): the ledger keeps the outcome
      // and the next agent tells the queue.
      if (!this.stopping) this.emit({ kind: 'problem', message: `job ${h.entry.job_id}: the queue was not told (${(err as Error).message})` });
      return;
    }
    this.release(h);
    const path = h.entry.path;
    if (state === 'completed') this.stats.completed[path]++;
    else this.stats.failed[path]++;
    this.emit({ kind: 'finished', ...this.ref(h), outcome, queue_state: state, adopted: h.adopted });
  }

  /** No workload ran (refused by the core, or an agent died before starting it). */
  private async concludeUnstarted(h: Held, reason: string): Promise<void> {
    h.concluding = true;
    let state: QueueState;
    try {
      state = await this.tell(h, { fail: reason });
    } catch {
      return;
    }
    this.release(h);
    this.stats.failed[h.entry.path]++;
    this.emit({ kind: 'failed_unstarted', ...this.ref(h), reason, queue_state: state });
  }

  private release(h: Held): void {
    try {
      this.ledger.remove(h.entry.key);
    } catch {
      /* a leftover entry is told again (and found already finished) by the next agent */
    }
    this.held.delete(h.entry.key);
    this.wake();
  }

  /**
   * Completes or fails the queue job while its lock is ours; when it is not (lost, or the queue
   * failed the job as stalled meanwhile), attaches the outcome as a log line, which needs no
   * lock. Throws only when Redis is out of reach because the agent is stopping.
   */
  private async tell(h: Held, what: { complete: JobOutcome } | { fail: string; outcome?: JobOutcome }): Promise<QueueState> {
    const job = h.job;
    if (job === null) return 'gone';
    const token = h.entry.token;
    const log = 'complete' in what ? what.complete : what.outcome;
    if (h.lock === 'held') {
      try {
        if ('complete' in what) {
          await job.moveToCompleted(what.complete, token, false);
          return 'completed';
        }
        if (log !== undefined) await job.log(resultLogLine(log));
        await job.moveToFailed(new UnrecoverableError(what.fail), token, false);
        return 'failed';
      } catch (err) {
        if (this.stopping || isConnectionError(err)) throw err;
        h.lock = 'lost'; // Missing lock / not active: the queue has moved on
      }
    }
    try {
      await job.log(log !== undefined ? resultLogLine(log) : `ffrtmp: ${'fail' in what ? what.fail : ''}`);
      return 'attached';
    } catch (err) {
      if (this.stopping || isConnectionError(err)) throw err;
      return 'gone'; // removed meanwhile
    }
  }

  // ------------------------------------------------------------------------------------------
  // Locks

  private async renew(): Promise<void> {
    if (this.renewing || this.stopping) return;
    this.renewing = true;
    try {
      const due = [...this.held.values()].filter((h) => h.lock === 'held' && h.job !== null && !h.concluding);
      await Promise.all(
        due.map(async (h) => {
          let n: number;
          try {
            n = await h.job!.extendLock(h.entry.token, this.opts.lockDurationMs);
          } catch (err) {
            this.connectionTrouble(err);
            return;
          }
          this.redisReached();
          if (n !== 1 && !h.concluding && !this.stopping && this.held.has(h.entry.key)) {
            h.lock = 'lost';
            this.stats.lockRenewalsFailed++;
            this.emit({ kind: 'lock_lost', ...this.ref(h) });
          }
        }),
      );
    } finally {
      this.renewing = false;
    }
  }

  // ------------------------------------------------------------------------------------------
  // Adoption after a restart

  private queueHandle(name: string): Worker | Queue {
    const w = this.workers.get(name);
    if (w !== undefined) return w;
    let q = this.extraQueues.get(name);
    if (q === undefined) {
      q = new Queue(name, { connection: connectionOptions(this.opts.redisUrl) });
      q.on('error', (err) => this.connectionTrouble(err));
      this.extraQueues.set(name, q);
    }
    return q;
  }

  /**
   * A job an earlier agent held. First (lockPhase) the queue job and its lock: `extendLock` with
   * the persisted token succeeds exactly while the lock key still holds it. Then its end: the
   * outcome already in the ledger, the Result of its run (written by its adopter), or, for the
   * legacy path, the end of its process watched again.
   */
  private adopt(h: Held): { lockPhase: Promise<void>; done: Promise<void> } {
    const e = h.entry;
    const lockPhase = (async () => {
      let job: Job | undefined;
      for (let backoff = 250; ; backoff = Math.min(backoff * 2, 5000)) {
        if (this.stopping) return;
        try {
          job = await Job.fromId(this.queueHandle(e.queue), e.queue_job_id);
          const n = job === undefined ? 0 : await job.extendLock(e.token, this.opts.lockDurationMs);
          h.lock = n === 1 ? 'held' : 'lost';
          this.redisReached();
          break;
        } catch (err) {
          this.connectionTrouble(err);
          await sleep(backoff);
        }
      }
      h.job = job ?? null;
      this.stats.adopted++;
      this.emit({
        kind: 'adopted',
        ...this.ref(h),
        lock: job === undefined ? 'job_gone' : h.lock === 'held' ? 'retaken' : 'lost',
        run_id: e.run_id ?? null,
        pid: e.pid ?? null,
      });
    })();
    const done = (async () => {
      await lockPhase;
      if (this.stopping) return;
      if (e.outcome !== undefined) return this.conclude(h, e.outcome);
      if (e.path === 'wrapper') {
        const runId = e.run_id ?? this.runOfUnnamed(e);
        if (runId === undefined) return this.concludeUnstarted(h, 'the agent that took this job stopped before starting its workload: it never ran');
        const result = await this.resultFor(runId);
        if (result === null) return; // stopping: the next agent waits for it
        return this.conclude(h, result);
      }
      if (e.pid === undefined) return this.concludeUnstarted(h, 'the agent that took this job stopped before starting its workload: it never ran');
      const outcome = await this.legacyEnd(e);
      if (outcome === null) return;
      return this.conclude(h, outcome);
    })();
    return { lockPhase, done };
  }

  /** The run of a wrapper job whose ledger entry had no run id: its started record, by the agent that held it. */
  private runOfUnnamed(e: LedgerEntry): string | undefined {
    const runs = this.startedByJob.get(e.job_id) ?? [];
    const r = runs.find((s) => s.wrapper.pid === e.agent.pid && s.wrapper.start_time_ticks === e.agent.start_time_ticks);
    return r?.run_id;
  }

  /** Resolves with the run's Result once it is recorded; null when the agent stops first. */
  private resultFor(runId: string): Promise<Result | null> {
    const known = this.seen.get(runId);
    if (known !== undefined) return Promise.resolve(known);
    return new Promise((resolve) => {
      const onStop = (): void => resolve(null);
      this.detach.signal.addEventListener('abort', onStop, { once: true });
      this.wanted.set(runId, (r) => {
        this.detach.signal.removeEventListener('abort', onStop);
        this.wanted.delete(runId);
        resolve(r);
      });
    });
  }

  /** A legacy job's process, watched again (not our child: its status only where the kernel keeps it). */
  private async legacyEnd(e: LedgerEntry): Promise<JobOutcome | null> {
    const startedAtMs = Date.parse(e.taken_at);
    const base = { job_id: e.job_id, pid: e.pid ?? null, startedAtMs };
    const note = 'recorded by a restarted agent: the legacy path keeps no exit status for it';
    if (e.pid === undefined || e.start_time_ticks === undefined || e.start_time_ticks === null || !isSameProcessAlive({ pid: e.pid, start_time_ticks: e.start_time_ticks })) {
      return legacyOutcome({ ...base, exit_code: null, signal: null, exit_source: 'unknown', endedAtMs: Date.now(), note: `${note}; it had ended before the agent came back` });
    }
    let watched;
    try {
      watched = this.opts.observer.attach(e.pid);
    } catch {
      return legacyOutcome({ ...base, exit_code: null, signal: null, exit_source: 'unknown', endedAtMs: Date.now(), note: `${note}; it ended as the agent came back` });
    }
    if (watched.identityStartTime !== e.start_time_ticks) {
      watched.watch.close();
      return legacyOutcome({ ...base, exit_code: null, signal: null, exit_source: 'unknown', endedAtMs: Date.now(), note: `${note}; it had ended before the agent came back` });
    }
    const stop = new Promise<null>((resolve) => this.detach.signal.addEventListener('abort', () => resolve(null), { once: true }));
    const ended = await Promise.race([watched.watch.exited, stop]);
    watched.watch.close();
    if (ended === null) return null;
    const known = ended.status.exit_source === 'pidfd_info';
    return legacyOutcome({
      ...base,
      exit_code: known ? ended.status.exit_code : null,
      signal: known ? ended.status.signal : null,
      exit_source: known ? 'pidfd_info' : 'unknown',
      endedAtMs: ended.exitedAtMs,
      note: 'recorded by a restarted agent, which watched the process to its end',
    });
  }

  // ------------------------------------------------------------------------------------------
  // Stopping

  /**
   * Stops taking jobs and detaches from the running ones: their workloads continue, nothing is
   * signalled, the queue is not told (their locks stop being renewed; the next agent on this
   * state dir takes them back within the lock's duration). Queue updates already under way get a
   * moment to land. Returns how many jobs were left for the next agent.
   */
  async stop(why: string): Promise<{ left: number }> {
    if (this.stopping) return { left: this.held.size };
    this.stopping = true;
    this.wake();
    this.detach.abort(why);
    if (this.renewTimer !== null) clearInterval(this.renewTimer);
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    this.follower?.close();
    const settle = Promise.allSettled([...this.tasks]);
    await Promise.race([settle, sleep(2000)]);
    await Promise.allSettled([...this.workers.values()].map((w) => w.close(true)));
    await Promise.allSettled([...this.extraQueues.values()].map((q) => q.close()));
    await Promise.race([Promise.allSettled(this.loops), sleep(1000)]);
    try {
      this.ledger.release(this.me);
    } catch {
      /* the next agent finds this process gone and takes the lock over */
    }
    return { left: this.held.size };
  }
}

/** A `result` journal line → the Result (without the envelope). */
function resultOf(r: ResultJournalRecord): Result {
  const { type: _t, v: _v, run_id: _r, adopted_by: _a, ...result } = r;
  return result as Result;
}

/** The core's check of `--workdir`, said for the job's field. */
function checkWorkdir(dir: string): void {
  let isDir = false;
  try {
    isDir = statSync(dir).isDirectory();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new JobDataError('workdir', `${shown(dir)}: ${code === 'ENOENT' ? 'no such directory on this node' : code ?? 'cannot be read'}`);
  }
  if (!isDir) throw new JobDataError('workdir', `${shown(dir)}: not a directory`);
}
