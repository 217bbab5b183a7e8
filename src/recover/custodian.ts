/**
 * Continuous adoption, for a long-running process (`ffrtmp serve`): every job whose wrapper goes
 * away gets its end recorded, not only the orphans that existed when the process started.
 *
 * Zero polling, and no rescans: the journal is read whole once, at the start (the orphans of
 * that moment are adopted and a sweep runs); from then on the custodian keeps the open jobs from
 * the records it is fed (`onRecord`, from the journal the caller follows) and watches the wrapper
 * of every job in flight with the same exit observer that watches workloads (one pidfd per
 * wrapper, whatever its number of jobs). When a wrapper ends (`kill -9`, a crash, a detach
 * followed by its exit) its open jobs are adopted; a `detached` record is adopted at once. Before
 * choosing, it brings the journal up to date (`syncJournal`), so a wrapper that ended normally,
 * having written its Results, adopts nothing.
 *
 * It never signals anything; closing it stops watching wrappers and detaches from the adopted
 * workloads (they stay orphans for the next pass or `ffrtmp recover`).
 */
import { isSameProcessAlive } from '../journal/identity';
import { classifyUnfinished, findUnfinished } from '../journal/query';
import { readJournal } from '../journal/reader';
import type { JournalRecord, ProcessIdentity, StartedJournalRecord } from '../journal/types';
import type { ExitObserver, Watch } from '../observer/types';
import { adoptOrphans, type AdoptionOutcome, type RecoverOptions } from './recover';
import { sweep, type SweepReport } from './sweep';

export interface CustodianOptions extends Omit<RecoverOptions, 'signal' | 'observer' | 'hasResult'> {
  observer: ExitObserver;
  /** Brings the records fed to `onRecord` up to date with the journal (the caller's follower sync). */
  syncJournal: () => void;
  /** The sweep at the start. */
  onSwept?: (report: SweepReport) => void;
  /** A pass failed as a whole (an unreadable state directory, a bug). */
  onError?: (err: unknown) => void;
}

const key = (id: ProcessIdentity): string => `${id.pid}:${id.start_time_ticks}`;

export class Custodian {
  /** Jobs started and without a Result, by run_id. */
  private readonly open = new Map<string, StartedJournalRecord>();
  private readonly wrappers = new Map<string, Watch>();
  private readonly passes = new Set<Promise<unknown>>();
  private readonly abort = new AbortController();
  private closed = false;

  constructor(private readonly opts: CustodianOptions) {}

  /** Reads the journal once: the open jobs, a sweep, the orphans of now adopted, wrappers watched. */
  async start(): Promise<void> {
    try {
      const { records } = readJournal(this.opts.stateDir);
      for (const s of findUnfinished(records)) this.open.set(s.run_id, s);
      const { inFlight, orphans } = classifyUnfinished(records, (r) => isSameProcessAlive(r.wrapper));
      this.opts.onSwept?.(await sweep(this.opts.stateDir, records));
      this.adopt(orphans);
      for (const s of inFlight) this.watchWrapper(s.wrapper);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  /** A record appended to the journal. */
  onRecord(r: JournalRecord): void {
    if (r.type === 'result') {
      this.open.delete(r.run_id);
      return;
    }
    if (this.closed) return;
    if (r.type === 'started') {
      this.open.set(r.run_id, r);
      this.watchWrapper(r.wrapper);
    } else if (r.type === 'detached') {
      const s = this.open.get(r.run_id);
      if (s !== undefined) this.adopt([s]);
    }
  }

  /** How many wrappers are watched (for tests). */
  watchedWrappers(): number {
    return this.wrappers.size;
  }

  private watchWrapper(id: ProcessIdentity): void {
    const k = key(id);
    if (this.closed || this.wrappers.has(k) || id.pid === process.pid) return;
    if (id.start_time_ticks === null || !isSameProcessAlive(id)) {
      this.wrapperGone(k); // already gone: its jobs are orphans now
      return;
    }
    let watch: Watch;
    try {
      const adopted = this.opts.observer.attach(id.pid);
      watch = adopted.watch;
      if (adopted.identityStartTime !== id.start_time_ticks) {
        watch.close(); // the pid is someone else's now: the wrapper is gone
        this.wrapperGone(k);
        return;
      }
    } catch {
      this.wrapperGone(k); // ESRCH: gone between the check and the open
      return;
    }
    this.wrappers.set(k, watch);
    void watch.exited.then(() => {
      this.wrappers.delete(k);
      this.wrapperGone(k);
    });
  }

  /** A wrapper ended: adopt the jobs it left open. */
  private wrapperGone(k: string): void {
    if (this.closed) return;
    this.opts.syncJournal(); // Results it wrote before it ended take its jobs off the list
    this.adopt([...this.open.values()].filter((s) => key(s.wrapper) === k));
  }

  private adopt(orphans: readonly StartedJournalRecord[]): void {
    if (this.closed || orphans.length === 0) return;
    const pass: Promise<AdoptionOutcome[] | void> = adoptOrphans(orphans, {
      ...this.opts,
      signal: this.abort.signal,
      hasResult: (runId) => {
        this.opts.syncJournal();
        return !this.open.has(runId);
      },
    })
      .catch((err: unknown) => this.opts.onError?.(err))
      .finally(() => this.passes.delete(pass));
    this.passes.add(pass);
  }

  /** Stops watching and detaches from every adopted workload; resolves when every pass has settled. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of this.wrappers.values()) w.close();
    this.wrappers.clear();
    this.abort.abort('close');
    while (this.passes.size > 0) await Promise.allSettled([...this.passes]);
  }
}
