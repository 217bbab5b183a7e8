/**
 * The agent's ledger: one small JSON file per queue job the agent holds, in `<state-dir>/agent/`,
 * so that an agent killed with -9 (or stopped) can be replaced by a new one that takes its queue
 * jobs back. The journal says what happened to the workload; the ledger says which queue job it
 * answers and holds the lock token that proves the queue job is ours.
 *
 * An entry's life (docs/agent.md "Crash safety"):
 * 1. `create` right after the queue job was taken and its data validated, before anything is
 *    started: queue, queue job id, lock token, our job id, the path. fsync'd.
 * 2. `update` once the workload exists: the wrapper path's run id (from the journal's `started`
 *    record, written before the workload may exec), or the legacy child's pid and start time.
 * 3. `update` with the outcome (the Result, or the legacy outcome) once the end is known, before
 *    the queue is told.
 * 4. `remove` once the queue has it (completed, failed, or the Result attached to a job the queue
 *    had already failed).
 *
 * Updates are atomic (a temp file renamed over the entry): a reader sees the old entry or the new
 * one, never half of one. Only the creation is fsync'd: the later steps are re-derived from the
 * journal after a crash of the machine (which ends the workload too).
 *
 * One agent per state dir: `acquire()` takes `<state-dir>/agent/agent.lock` for this process, and
 * refuses when a live agent (pid + start time) holds it. The ledger's entries are then all from
 * agents that are gone, and this one adopts them.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { isSameProcessAlive } from '../journal/identity';
import type { ProcessIdentity } from '../journal/types';
import type { Result } from '../model/result';
import type { LegacyOutcome } from './legacy';

export const LEDGER_VERSION = 1 as const;

export interface LedgerEntry {
  readonly v: typeof LEDGER_VERSION;
  /** The file's stem (16 hex): unique per take of a queue job. */
  readonly key: string;
  readonly queue: string;
  /** The queue's (BullMQ's) job id. */
  readonly queue_job_id: string;
  /** The lock token the queue job was taken with: what re-takes it after a restart. */
  readonly token: string;
  readonly worker_id: string;
  /** The agent process that took it. */
  readonly agent: ProcessIdentity;
  /** Our job id (the job data's `id`): the journal's. */
  readonly job_id: string;
  readonly path: 'wrapper' | 'legacy';
  readonly taken_at: string;
  /** Wrapper path: the run, once its `started` record is written. */
  readonly run_id?: string;
  /** Legacy path: the child, once spawned. */
  readonly pid?: number;
  readonly start_time_ticks?: string | null;
  /** The end, once known: the queue is told from this. */
  readonly outcome?: Result | LegacyOutcome;
}

export interface LedgerProblem {
  readonly file: string;
  readonly reason: string;
}

const DIR_MODE = 0o700;
const FILE_MODE = 0o600; // it holds lock tokens

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    /* best effort */
  }
}

function writeAtomic(file: string, text: string, durable: boolean): void {
  const tmp = path.join(path.dirname(file), `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, FILE_MODE);
  try {
    fs.writeSync(fd, text);
    if (durable) fs.fsyncSync(fd);
  } catch (err) {
    fs.closeSync(fd);
    fs.rmSync(tmp, { force: true });
    throw err;
  }
  fs.closeSync(fd);
  fs.renameSync(tmp, file);
  if (durable) fsyncDir(path.dirname(file));
}

export type AcquireOutcome = { readonly acquired: true } | { readonly acquired: false; readonly holder: ProcessIdentity & { worker_id?: string } };

export class Ledger {
  readonly dir: string;
  private readonly jobsDir: string;
  private readonly lockFile: string;

  constructor(stateDir: string) {
    this.dir = path.join(path.resolve(stateDir), 'agent');
    this.jobsDir = path.join(this.dir, 'jobs');
    this.lockFile = path.join(this.dir, 'agent.lock');
  }

  /** Can entries be written now (for /health)? */
  checkWritable(): { writable: true } | { writable: false; error: string } {
    try {
      fs.accessSync(this.jobsDir, fs.constants.W_OK);
      return { writable: true };
    } catch (err) {
      return { writable: false, error: (err as NodeJS.ErrnoException).code ?? (err as Error).message };
    }
  }

  /** Creates the directories (0700). Throws (the CLI says it cannot use the state dir). */
  prepare(): void {
    fs.mkdirSync(this.jobsDir, { recursive: true, mode: DIR_MODE });
  }

  /**
   * Takes the state dir for this agent. A lock left by an agent that is gone is taken over; one
   * held by a live agent is refused (two agents on one state dir would adopt each other's jobs).
   */
  acquire(me: ProcessIdentity, workerId: string): AcquireOutcome {
    this.prepare();
    const mine = JSON.stringify({ pid: me.pid, start_time_ticks: me.start_time_ticks, worker_id: workerId, since: new Date().toISOString() });
    for (let attempt = 0; attempt < 5; attempt++) {
      const tmp = path.join(this.dir, `.lock-${process.pid}-${randomBytes(4).toString('hex')}`);
      fs.writeFileSync(tmp, mine, { mode: FILE_MODE });
      try {
        fs.linkSync(tmp, this.lockFile); // atomic: fails if a lock exists
        return { acquired: true };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        fs.rmSync(tmp, { force: true });
      }
      const holder = this.readLock(this.lockFile);
      if (holder !== null && isSameProcessAlive(holder)) return { acquired: false, holder };
      // Stale: move it out of the way under a unique name (only one contender's rename succeeds),
      // then make sure what was moved was the stale lock and not a fresh one taken meanwhile.
      const aside = path.join(this.dir, `.stale-lock-${process.pid}-${randomBytes(4).toString('hex')}`);
      try {
        fs.renameSync(this.lockFile, aside);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
        throw err;
      }
      const moved = this.readLock(aside);
      if (moved !== null && isSameProcessAlive(moved)) {
        try {
          fs.linkSync(aside, this.lockFile); // give it back
        } catch {
          /* it took another one meanwhile */
        }
        fs.rmSync(aside, { force: true });
        return { acquired: false, holder: moved };
      }
      fs.rmSync(aside, { force: true });
    }
    throw new Error(`could not take ${this.lockFile}: too many simultaneous contenders`);
  }

  /** Gives the state dir back (only if this process holds it). */
  release(me: ProcessIdentity): void {
    const holder = this.readLock(this.lockFile);
    if (holder !== null && holder.pid === me.pid && holder.start_time_ticks === me.start_time_ticks) fs.rmSync(this.lockFile, { force: true });
  }

  private readLock(file: string): (ProcessIdentity & { worker_id?: string }) | null {
    try {
      const o = JSON.parse(fs.readFileSync(file, 'utf8')) as { pid?: unknown; start_time_ticks?: unknown; worker_id?: unknown };
      if (typeof o.pid !== 'number') return null;
      return {
        pid: o.pid,
        start_time_ticks: typeof o.start_time_ticks === 'string' ? o.start_time_ticks : null,
        ...(typeof o.worker_id === 'string' ? { worker_id: o.worker_id } : {}),
      };
    } catch {
      return null; // unreadable or half-written: treated as stale
    }
  }

  private fileOf(key: string): string {
    return path.join(this.jobsDir, `${key}.json`);
  }

  /** A fresh key for a new entry. */
  static newKey(): string {
    return randomBytes(8).toString('hex');
  }

  /** Step 1: durable before anything starts. Throws (the job is then not started). */
  create(entry: LedgerEntry): void {
    writeAtomic(this.fileOf(entry.key), `${JSON.stringify(entry)}\n`, true);
  }

  /** Steps 2 and 3. Returns the new entry. Throws on an I/O failure. */
  update(entry: LedgerEntry, patch: Partial<Pick<LedgerEntry, 'run_id' | 'pid' | 'start_time_ticks' | 'outcome'>>): LedgerEntry {
    const next = { ...entry, ...patch };
    writeAtomic(this.fileOf(entry.key), `${JSON.stringify(next)}\n`, false);
    return next;
  }

  /** Step 4. */
  remove(key: string): void {
    fs.rmSync(this.fileOf(key), { force: true });
  }

  /** Every entry, oldest taken first; files that cannot be read are problems, left in place. */
  list(): { entries: LedgerEntry[]; problems: LedgerProblem[] } {
    let names: string[];
    try {
      names = fs.readdirSync(this.jobsDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { entries: [], problems: [] };
      throw err;
    }
    const entries: LedgerEntry[] = [];
    const problems: LedgerProblem[] = [];
    for (const name of names) {
      const file = path.join(this.jobsDir, name);
      if (name.startsWith('.tmp-')) {
        fs.rmSync(file, { force: true }); // a write cut short: the entry it was replacing stands
        continue;
      }
      if (!/^[0-9a-f]{16}\.json$/.test(name)) continue;
      try {
        const e = JSON.parse(fs.readFileSync(file, 'utf8')) as LedgerEntry;
        if (e.v !== LEDGER_VERSION || typeof e.queue !== 'string' || typeof e.queue_job_id !== 'string' || typeof e.token !== 'string' || typeof e.job_id !== 'string') {
          problems.push({ file, reason: 'not a ledger entry this agent understands' });
          continue;
        }
        entries.push(e);
      } catch (err) {
        problems.push({ file, reason: (err as Error).message });
      }
    }
    entries.sort((a, b) => a.taken_at.localeCompare(b.taken_at));
    return { entries, problems };
  }
}
