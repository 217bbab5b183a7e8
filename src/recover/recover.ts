/**
 * Adoption: recording the end of jobs whose wrapper is gone (`ffrtmp recover`, and `ffrtmp serve`
 * at start and whenever a wrapper it watches ends).
 *
 * An orphan is a `started` record with no `result` whose owning wrapper process (pid + start
 * time, recorded in the started line) no longer exists: a wrapper killed (`kill -9`, the OOM
 * killer) or one that detached on SIGINT/SIGTERM/SIGHUP (a detach is not an end: its `detached`
 * record leaves the job open). For each orphan:
 *
 * 1. Claim it (claims.ts). If a live process holds the claim, skip it: someone else is adopting.
 * 2. Re-read the journal. If a Result for its run_id now exists, release the claim and skip it.
 * 3. Under a keeper (the started record names it), wait for the keeper to exit if it still runs,
 *    and read its exit file: the real status and end time, on every kernel. A keeper that ended
 *    without one (killed) leaves the job to the next steps, and the Result says so.
 * 4. If its process still exists with the recorded start time, re-attach through the core's
 *    `attach()` and observe it to completion. The real exit status comes through PIDFD_INFO_EXIT
 *    where the kernel has it. The observer reads the identity again while it holds the pidfd, and
 *    if that does not match (the PID was reused in between), the job is treated as gone.
 * 5. If it is gone, or its PID now belongs to another process, or its identity was never
 *    recorded, write its Result once: exit unknown, reason `exit_unobserved` (a violation),
 *    end_time = when the absence was detected.
 *
 * The Result of an adopted job keeps the job's own facts from its started record (job_id, pid,
 * mode, intent, start_time), so `processing_seconds` covers the whole job. The end, the exit
 * status and the reason come from the observation (`observed_to_completion`, or
 * `observer_unavailable` when no watcher could be installed); a governance violation recorded at
 * the start (a limit not applied, ...) still stands. Its job cgroup leaves (listed in the
 * started record) are read for the usage and removed, whoever observed the end. It is written
 * with the orphan's run_id and `adopted_by`, and the job leaves the node's open jobs.
 *
 * After the orphans, a sweep removes the empty leaves of jobs the journal says have ended (their
 * wrapper could not remove them: a process was still inside then) and the stale open-job
 * entries of runs that ended or never started, and reports how many.
 *
 * Detaching (`signal` aborted: SIGTERM to recover or serve) stops observing and writes nothing.
 * The job stays an orphan and the next recover adopts it again. A workload is never signalled.
 * Never two Results for one run_id: the claim plus the re-read guarantee it.
 */
import { attach } from '../core/attach';
import { finalFields } from '../core/run';
import { readExitFile } from '../observer/keeper';
import { selectObserver } from '../observer/select';
import type { KeeperReport } from '../model/result';
import { finishAdopted, governedReason } from '../core/governance';
import { freezeResult } from '../model/build-result';
import { UNKNOWN_EXIT, type Result } from '../model/result';
import { isSameProcessAlive, ownIdentity, readStartTimeTicks } from '../journal/identity';
import { Journal } from '../journal/journal';
import { JournalFollower } from '../journal/follower';
import { classifyUnfinished } from '../journal/query';
import { readJournal, type JournalProblem } from '../journal/reader';
import type { DetachedRecord, JobRecorder, JournalError, JournalRecord, KeeperIdentity, StartedJournalRecord, StartedRecord } from '../journal/types';
import { sweep, type SweepReport } from './sweep';
import type { ExitObserver } from '../observer/types';
import { claimOrphan, releaseClaims } from './claims';

export type AdoptionOutcome =
  /** Re-attached and observed to completion: `result` is in the journal. */
  | { readonly kind: 'observed'; readonly orphan: StartedJournalRecord; readonly result: Result }
  /** The process was gone (or its PID reused, or its identity unknown): `exit_unobserved` Result written. */
  | {
      readonly kind: 'unobserved';
      readonly orphan: StartedJournalRecord;
      readonly result: Result;
      readonly why: 'gone' | 'pid_reused' | 'identity_unknown';
    }
  /** Nothing written. */
  | {
      readonly kind: 'skipped';
      readonly orphan: StartedJournalRecord;
      readonly why: 'claimed_by_other' | 'already_recorded' | 'detached' | 'claim_failed';
      readonly detail?: string;
    }
  /** The Result could not be appended (read-only / full journal). */
  | { readonly kind: 'not_persisted'; readonly orphan: StartedJournalRecord; readonly result: Result; readonly error: JournalError };

export interface RecoverOptions {
  stateDir: string;
  /**
   * Whether the journal has a Result for `runId` now (asked after each claim). Default: the
   * journal is followed from the scan on, so each answer reads only what was appended since.
   */
  hasResult?: (runId: string) => boolean;
  /** Default: the core's selectObserver(). */
  observer?: ExitObserver;
  /** Aborting detaches from every adopted process: nothing is written for them. */
  signal?: AbortSignal;
  /** Called when an orphan's process is re-attached and being observed. */
  onAdopted?: (orphan: StartedJournalRecord) => void;
  /** Called as each orphan is settled (in completion order). */
  onOutcome?: (outcome: AdoptionOutcome) => void;
}

export interface RecoverReport {
  /** Unfinished jobs whose wrapper is alive: not orphans, left alone. */
  readonly inFlight: StartedJournalRecord[];
  readonly outcomes: AdoptionOutcome[];
  /** Journal problems seen while reading (torn lines etc.). */
  readonly problems: JournalProblem[];
  /** What the sweep after the adoptions removed (null when detached before it ran). */
  readonly swept: SweepReport | null;
}

/** Finds orphans without adopting anything (`ffrtmp recover --dry-run`, `ffrtmp jobs`). */
export function scanOrphans(stateDir: string): { inFlight: StartedJournalRecord[]; orphans: StartedJournalRecord[]; problems: JournalProblem[]; records: JournalRecord[] } {
  const { records, problems } = readJournal(stateDir);
  const { inFlight, orphans } = classifyUnfinished(records, (r) => isSameProcessAlive(r.wrapper));
  return { inFlight, orphans, problems, records };
}

/** Collects the core's Result instead of writing it, and checks the identity the observer read. */
class AdoptionProbe implements JobRecorder {
  identityMismatch = false;
  wasDetached = false;
  result: Result | null = null;
  constructor(
    private readonly expected: string,
    private readonly abort: AbortController,
  ) {}
  started(rec: StartedRecord): void {
    if (rec.identity.start_time_ticks !== this.expected) {
      this.identityMismatch = true;
      this.abort.abort();
    }
  }
  detached(_rec: DetachedRecord): void {
    this.wasDetached = true;
  }
  finished(result: Result): void {
    this.result ??= result;
  }
}

/** The spawn error of a job whose wrapper died between its started record and its workload's exec. */
const NEVER_STARTED = Object.freeze({
  code: 'ECANCELED',
  errno: -125,
  syscall: 'keeper',
  message: 'the wrapper died before it let the workload start: the workload never ran',
});

/** run_ids this process is adopting right now (claims identify processes, not calls). */
const adoptingHere = new Set<string>();

async function adoptOne(orphan: StartedJournalRecord, journal: Journal, opts: RecoverOptions & { hasResult: (runId: string) => boolean }): Promise<AdoptionOutcome> {
  if (adoptingHere.has(orphan.run_id)) {
    return { kind: 'skipped', orphan, why: 'claimed_by_other', detail: 'already being adopted by this process' };
  }
  adoptingHere.add(orphan.run_id);
  try {
    return await adoptClaimed(orphan, journal, opts);
  } finally {
    adoptingHere.delete(orphan.run_id);
  }
}

async function adoptClaimed(orphan: StartedJournalRecord, journal: Journal, opts: RecoverOptions & { hasResult: (runId: string) => boolean }): Promise<AdoptionOutcome> {
  const stateDir = journal.dir;
  let claim;
  try {
    claim = claimOrphan(stateDir, orphan.run_id, orphan.job_id);
  } catch (err) {
    return { kind: 'skipped', orphan, why: 'claim_failed', detail: (err as Error).message };
  }
  if (!claim.claimed) return { kind: 'skipped', orphan, why: 'claimed_by_other', detail: claim.reason };

  // A previous owner writes its Result before it dies: looking again after the claim sees it.
  if (opts.hasResult(orphan.run_id)) {
    releaseClaims(stateDir, orphan.run_id);
    return { kind: 'skipped', orphan, why: 'already_recorded' };
  }

  const startedAtMs = Date.parse(orphan.start_time);
  const base = {
    job_id: orphan.job_id,
    pid: orphan.pid,
    mode: orphan.mode,
    ...(orphan.intent !== undefined ? { intent: orphan.intent } : {}),
  };
  const kept = orphan.keeper;
  let keeper: KeeperReport | undefined = kept !== undefined ? { pid: kept.pid } : undefined;
  const observed = async (r: Result): Promise<AdoptionOutcome> => {
    const endedAtMs = Date.parse(r.end_time);
    const governed = await finishAdopted(orphan);
    const result = freezeResult({
      ...base,
      startedAtMs: Number.isFinite(startedAtMs) ? startedAtMs : endedAtMs,
      endedAtMs,
      exit: { exit_code: r.exit_code, signal: r.signal, exit_source: r.exit_source },
      reason: governedReason(r.platform_sla_reason, true, governed?.cgroup),
      ...(governed ?? {}),
      ...(keeper !== undefined ? { keeper } : {}),
    });
    return persist(result, { kind: 'observed', orphan, result });
  };
  const unobserved = async (why: 'gone' | 'pid_reused' | 'identity_unknown'): Promise<AdoptionOutcome> => {
    const now = Date.now();
    const governed = await finishAdopted(orphan);
    const result = freezeResult({
      ...base,
      startedAtMs: Number.isFinite(startedAtMs) ? startedAtMs : now,
      endedAtMs: now,
      exit: UNKNOWN_EXIT,
      reason: 'exit_unobserved',
      ...(governed ?? {}),
      ...(keeper !== undefined ? { keeper } : {}),
    });
    return persist(result, { kind: 'unobserved', orphan, result, why });
  };
  const persist = (result: Result, ok: AdoptionOutcome): AdoptionOutcome => {
    const rec = journal.recorder({ adopting: [orphan], adopter: ownIdentity() });
    rec.finished(result, orphan.run_id);
    const p = rec.persistence(orphan.job_id);
    if (!p.result) return { kind: 'not_persisted', orphan, result, error: p.error ?? { op: 'write', path: journal.file, message: 'unknown failure' } };
    releaseClaims(stateDir, orphan.run_id);
    return ok;
  };

  // Under a keeper, the workload's parent records its end: wait for the keeper (if it still runs)
  // and read its exit file. The Result is then as exact as the wrapper's own would have been.
  if (kept !== undefined) {
    const ended = await keeperEnded(kept, opts.observer ?? selectObserver(), opts.signal, () => opts.onAdopted?.(orphan));
    if (ended === 'detached') return { kind: 'skipped', orphan, why: 'detached' };
    const read = readExitFile(kept.exit_file, { pid: orphan.pid, keeperPid: kept.pid });
    if (read.ok && !read.started) {
      // Its wrapper died after recording the job and before letting the workload start: it
      // never ran. A platform failure to start it, said as such.
      const governed = await finishAdopted(orphan);
      const result = freezeResult({
        ...base,
        pid: null,
        startedAtMs: Number.isFinite(startedAtMs) ? startedAtMs : read.endedAtMs,
        endedAtMs: read.endedAtMs,
        exit: UNKNOWN_EXIT,
        reason: 'spawn_failed_platform',
        spawn_error: NEVER_STARTED,
        ...(governed ?? {}),
        keeper: { pid: kept.pid },
      });
      return persist(result, { kind: 'observed', orphan, result });
    }
    if (read.ok) {
      const final = finalFields({ exitedAtMs: read.endedAtMs, status: read.status }, orphan.mode);
      const governed = await finishAdopted(orphan);
      const result = freezeResult({
        ...base,
        startedAtMs: Number.isFinite(startedAtMs) ? startedAtMs : final.endedAtMs,
        endedAtMs: final.endedAtMs,
        exit: final.exit,
        reason: governedReason(final.reason, true, governed?.cgroup),
        ...(governed ?? {}),
        keeper: { pid: kept.pid },
      });
      return persist(result, { kind: 'observed', orphan, result });
    }
    // The keeper is gone without a word (killed): the workload is watched as any orphan.
    keeper = { pid: kept.pid, problem: `the keeper ended without recording the workload's end (${read.why})` };
  }

  const expected = orphan.identity.start_time_ticks;
  if (expected === null) return unobserved('identity_unknown');
  const now = readStartTimeTicks(orphan.identity.pid);
  if (now === null) return unobserved('gone');
  if (now !== expected) return unobserved('pid_reused');
  if (opts.signal?.aborted) return { kind: 'skipped', orphan, why: 'detached' };

  const abort = new AbortController();
  const onOuterAbort = (): void => abort.abort();
  opts.signal?.addEventListener('abort', onOuterAbort, { once: true });
  const probe = new AdoptionProbe(expected, abort);
  if (kept === undefined) opts.onAdopted?.(orphan);
  try {
    await attach({
      pids: [orphan.identity.pid],
      jobIds: [orphan.job_id],
      signal: abort.signal,
      recorder: probe,
      // Observe only: the process already sits in its job cgroup (or wherever it was).
      governance: { enabled: false },
      ...(opts.observer ? { observer: opts.observer } : {}),
    });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_NO_SUCH_PROCESS') return unobserved('gone');
    return { kind: 'skipped', orphan, why: 'claim_failed', detail: `attach failed: ${(err as Error).message}` };
  } finally {
    opts.signal?.removeEventListener('abort', onOuterAbort);
  }
  if (probe.identityMismatch) return unobserved('pid_reused');
  // Our own detach: the job is still running and still an orphan; the next recover adopts it.
  if (probe.wasDetached) return { kind: 'skipped', orphan, why: 'detached' };
  const r = probe.result;
  if (r === null) return { kind: 'skipped', orphan, why: 'claim_failed', detail: 'attach returned no Result' };
  return observed(r);
}

/**
 * Resolves once the orphan's keeper has exited: at once when it is gone already (or its PID now
 * belongs to another process), else when its pidfd says so. Only its end matters (its exit file
 * holds the workload's status), so nothing waits for its reap. 'detached' when `signal` aborts.
 */
async function keeperEnded(kept: KeeperIdentity, observer: ExitObserver, signal: AbortSignal | undefined, onWatching: () => void): Promise<'ended' | 'detached'> {
  if (signal?.aborted) return 'detached';
  if (kept.start_time_ticks === null || readStartTimeTicks(kept.pid) !== kept.start_time_ticks) return 'ended';
  let watched;
  try {
    watched = observer.attach(kept.pid, { needStatus: false });
  } catch {
    return 'ended'; // ESRCH: gone meanwhile
  }
  if (watched.identityStartTime !== kept.start_time_ticks) {
    watched.watch.close();
    return 'ended';
  }
  onWatching();
  if (signal === undefined) {
    await watched.watch.exited;
    return 'ended';
  }
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<'detached'>((resolve) => {
    onAbort = () => resolve('detached');
    signal.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([watched.watch.exited.then(() => 'ended' as const), aborted]);
  } finally {
    signal.removeEventListener('abort', onAbort!);
    watched.watch.close();
  }
}

/**
 * A reader of the journal from one scan on: `scan()` reads it whole once; `hasResult()` then reads
 * only what was appended since (a follower keeps the offsets), so looking again after each claim
 * costs the new bytes, not the whole journal.
 */
function followJournal(stateDir: string): { scan(): { records: JournalRecord[]; problems: JournalProblem[] }; hasResult(runId: string): boolean } {
  const ended = new Set<string>();
  let sink: JournalRecord[] | null = null;
  const problems: JournalProblem[] = [];
  const follower = new JournalFollower({
    dir: stateDir,
    onRecord: (r) => {
      sink?.push(r);
      if (r.type === 'result') ended.add(r.run_id);
    },
    onProblem: (p) => problems.push(p),
  });
  return {
    scan() {
      sink = [];
      follower.sync();
      const records = sink;
      sink = null;
      return { records, problems: [...problems] };
    },
    hasResult(runId) {
      follower.sync();
      return ended.has(runId);
    },
  };
}

/**
 * Adopts these orphans (each settles to an outcome, in completion order through `onOutcome`).
 * Orphans this process is adopting already (an earlier pass of `serve`) are left to that pass.
 */
export async function adoptOrphans(orphans: readonly StartedJournalRecord[], opts: RecoverOptions & { hasResult: (runId: string) => boolean }): Promise<AdoptionOutcome[]> {
  const journal = new Journal({ dir: opts.stateDir });
  return Promise.all(
    orphans
      .filter((o) => !adoptingHere.has(o.run_id))
      .map(async (orphan) => {
        let outcome: AdoptionOutcome;
        try {
          outcome = await adoptOne(orphan, journal, opts);
        } catch (err) {
          outcome = { kind: 'skipped', orphan, why: 'claim_failed', detail: (err as Error).message };
        }
        opts.onOutcome?.(outcome);
        return outcome;
      }),
  );
}

/**
 * Adopts every orphan in the journal of `stateDir` (see the header), after a sweep. Resolves when
 * every adopted process has ended (or `signal` detached). Never throws for a single job's
 * trouble: each orphan gets an outcome.
 */
export async function recover(opts: RecoverOptions): Promise<RecoverReport> {
  const journal = followJournal(opts.stateDir);
  const { records, problems } = journal.scan();
  const { inFlight, orphans } = classifyUnfinished(records, (r) => isSameProcessAlive(r.wrapper));
  // The sweep touches only jobs that have ended, so it need not wait for the adoptions (which
  // last as long as the adopted workloads do).
  const swept = opts.signal?.aborted ? null : await sweep(opts.stateDir, records);
  const outcomes = await adoptOrphans(orphans, { ...opts, hasResult: opts.hasResult ?? ((id) => journal.hasResult(id)) });
  return { inFlight, outcomes, problems, swept };
}
