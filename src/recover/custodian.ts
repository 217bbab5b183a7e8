/**
 * Continuous adoption, for a long-running process (`ffrtmp serve`): every job whose wrapper goes
 * away gets its end recorded, not only the orphans that existed when the process started.
 *
 * Zero polling: the custodian watches the wrapper of every job in flight with the same exit
 * observer that watches workloads (one pidfd per wrapper, whatever its number of jobs). When a
 * wrapper ends (`kill -9`, a crash, a detach followed by its exit) or a job is detached, it runs an
 * adoption pass (`recover()`); a pass adopts only what is not being adopted already. New wrappers
 * are learnt from the journal as it is followed (`onRecord`).
 *
 * It never signals anything; closing it stops watching wrappers and detaches from the adopted
 * workloads (they stay orphans for the next pass or `ffrtmp recover`).
 */
import { isSameProcessAlive } from '../journal/identity';
import type { JournalRecord, ProcessIdentity } from '../journal/types';
import type { ExitObserver, Watch } from '../observer/types';
import { recover, scanOrphans, type RecoverOptions, type RecoverReport } from './recover';

export interface CustodianOptions extends Omit<RecoverOptions, 'signal' | 'observer'> {
  observer: ExitObserver;
  /** Called after each adoption pass (its sweep, its journal problems). */
  onPass?: (report: RecoverReport) => void;
  /** Called when a pass fails as a whole (an unreadable state directory, a bug). */
  onError?: (err: unknown) => void;
}

const key = (id: ProcessIdentity): string => `${id.pid}:${id.start_time_ticks}`;

export class Custodian {
  private readonly wrappers = new Map<string, Watch>();
  private readonly passes = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private scheduled = false;
  private closed = false;

  constructor(private readonly opts: CustodianOptions) {}

  /** One adoption pass now, and watch the wrapper of every job in flight. */
  start(): void {
    this.schedulePass();
    try {
      for (const job of scanOrphans(this.opts.stateDir).inFlight) this.watchWrapper(job.wrapper);
    } catch (err) {
      this.opts.onError?.(err);
    }
  }

  /** A record appended to the journal (from the follower): a new wrapper, or a detach. */
  onRecord(r: JournalRecord): void {
    if (this.closed) return;
    if (r.type === 'started') this.watchWrapper(r.wrapper);
    else if (r.type === 'detached') this.schedulePass();
  }

  /** How many wrappers are watched (for /health and tests). */
  watchedWrappers(): number {
    return this.wrappers.size;
  }

  private watchWrapper(id: ProcessIdentity): void {
    const k = key(id);
    if (this.closed || this.wrappers.has(k) || id.pid === process.pid) return;
    if (id.start_time_ticks === null || !isSameProcessAlive(id)) {
      this.schedulePass(); // already gone: its jobs are orphans now
      return;
    }
    let watch: Watch;
    try {
      const adopted = this.opts.observer.attach(id.pid);
      watch = adopted.watch;
      if (adopted.identityStartTime !== id.start_time_ticks) {
        watch.close(); // the pid is someone else's now: the wrapper is gone
        this.schedulePass();
        return;
      }
    } catch {
      this.schedulePass(); // ESRCH: gone between the check and the open
      return;
    }
    this.wrappers.set(k, watch);
    void watch.exited.then(() => {
      this.wrappers.delete(k);
      this.schedulePass();
    });
  }

  /** Runs a pass soon; several wrapper exits in one tick make one pass. */
  private schedulePass(): void {
    if (this.closed || this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.closed) return;
      const pass: Promise<void> = recover({ ...this.opts, signal: this.abort.signal })
        .then((report) => this.opts.onPass?.(report))
        .catch((err: unknown) => this.opts.onError?.(err))
        .finally(() => this.passes.delete(pass));
      this.passes.add(pass);
    });
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
