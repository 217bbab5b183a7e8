/**
 * The durable job journal: append-only JSON lines in a state directory, shared by every ffrtmp
 * process on the node.
 *
 * Guarantees (see docs/visibility.md for the reasoning):
 * - One record = one write(2) of a single buffer `<json>\n` on an fd opened with
 *   O_WRONLY|O_APPEND|O_CREAT (mode 0640), followed by fsync(2). On a local filesystem (ext4, xfs,
 *   btrfs, tmpfs) the kernel serialises O_APPEND writes to one file, so records from concurrent
 *   processes never interleave. (Not on NFS: O_APPEND is emulated there.)
 * - Nothing is ever rewritten or truncated. A failed or short write is reported; what was already
 *   recorded is untouched.
 * - Size-based rotation without locks: a writer that finds the current file too big renames it to
 *   a unique name (`files.ts`) and reopens. Writers that still hold an fd on the renamed file
 *   finish their write into it: the inode is the same, so the record is neither lost nor split,
 *   it just lands in the rotated file. A rotation that loses the race (the name already points to
 *   a new file) is skipped. Only whole files are ever pruned (the oldest beyond `keepRotated`).
 * - Never throws: `append` returns an outcome and `lastError` keeps the last failure.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Result } from '../model/result';
import { CURRENT_FILE, isRotatedFileName, listJournalFiles, makeDirs, rotatedFileName } from './files';
import { exitFilePath, prepareExitsDir, removeExitFile } from './exits';
import { ownIdentity } from './identity';
import { OpenJobs } from './open-jobs';
import {
  JOURNAL_RECORD_VERSION,
  type DetachedJournalRecord,
  type DetachedRecord,
  type JobClaim,
  type JobRecorder,
  type JournalError,
  type JournalRecord,
  type OpenJob,
  type ProcessIdentity,
  type ResultJournalRecord,
  type StartedJournalRecord,
  type StartedRecord,
} from './types';

export const DEFAULT_MAX_BYTES = 16 * 1024 * 1024;
export const DEFAULT_KEEP_ROTATED = 10;
const FILE_MODE = 0o640;
const DIR_MODE = 0o750;
const OPEN_FLAGS = fs.constants.O_WRONLY | fs.constants.O_APPEND | fs.constants.O_CREAT;

export interface JournalOptions {
  /** The state directory (see state-dir.ts). Created (0750) on first append if missing. */
  dir: string;
  /** Rotate before a record would take the current file beyond this size. Default 16 MiB. */
  maxBytes?: number;
  /** Rotated files kept; older ones are deleted after a rotation. Default 10. */
  keepRotated?: number;
}

export type AppendOutcome =
  | {
      readonly ok: true;
      readonly bytes: number;
      /**
       * Only with `{ sync: 'deferred' }`: the record is written (in the page cache: it survives the
       * death of this process, not of the machine) and this makes it durable (fsync, then close).
       * Call it exactly once.
       */
      readonly sync?: (covered?: boolean) => AppendOutcome;
      /**
       * With `sync`: the file written (`dev:ino`). A later record's fsync on the same file makes
       * this one durable too (fsync flushes the whole file): `sync(true)` then only closes.
       */
      readonly fileKey?: string;
    }
  | { readonly ok: false; readonly error: JournalError };

export interface AppendOptions {
  /**
   * 'deferred': return once the record is written, and leave the fsync to `outcome.sync()`. For
   * the `started` record, which must be written before a held workload may exec, and whose
   * fsync need not delay it: a written record already outlives a killed wrapper, and a machine
   * that loses its page cache has lost the workload too. Default 'now'.
   */
  sync?: 'now' | 'deferred';
}

function toJournalError(op: string, p: string, err: unknown): JournalError {
  const e = err as NodeJS.ErrnoException;
  return {
    op,
    ...(typeof e?.code === 'string' ? { code: e.code } : {}),
    path: p,
    message: e instanceof Error ? e.message : String(err),
  };
}

function fsyncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
    fs.fsyncSync(fd);
  } catch {
    // Best effort: the record itself is already fsync'd.
  } finally {
    if (fd !== undefined) {
      try {
        fs.closeSync(fd);
      } catch {
        /* ignore */
      }
    }
  }
}

/** Serialises a record as one line. `type` must be the first key (the reader resyncs on it). */
export function serializeRecord(record: JournalRecord): Buffer {
  const json = JSON.stringify(record);
  if (!json.startsWith('{"type":"')) throw new Error('journal record must start with its "type" key');
  return Buffer.from(json + '\n', 'utf8');
}

export class Journal {
  readonly dir: string;
  /** The current file: `<dir>/journal.jsonl`. */
  readonly file: string;
  readonly maxBytes: number;
  readonly keepRotated: number;
  /** The last failed append, or null. Never thrown. */
  lastError: JournalError | null = null;
  /** The last failed rotation (the record was still appended, to the big file), or null. */
  lastRotationError: JournalError | null = null;

  constructor(opts: JournalOptions) {
    this.dir = path.resolve(opts.dir);
    this.file = path.join(this.dir, CURRENT_FILE);
    this.maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;
    this.keepRotated = opts.keepRotated ?? DEFAULT_KEEP_ROTATED;
  }

  /** Appends one record. Never throws. */
  append(record: JournalRecord, opts: AppendOptions = {}): AppendOutcome {
    let buf: Buffer;
    try {
      buf = serializeRecord(record);
    } catch (err) {
      return this.fail(toJournalError('serialize', this.file, err));
    }
    try {
      makeDirs(this.dir, DIR_MODE);
    } catch (err) {
      return this.fail(toJournalError('mkdir', this.dir, err));
    }
    for (let attempt = 0; ; attempt++) {
      let fd: number;
      try {
        fd = fs.openSync(this.file, OPEN_FLAGS, FILE_MODE);
      } catch (err) {
        return this.fail(toJournalError('open', this.file, err));
      }
      let keepOpen = false;
      try {
        let st: fs.Stats;
        try {
          st = fs.fstatSync(fd);
        } catch (err) {
          return this.fail(toJournalError('fstat', this.file, err));
        }
        // Rotate before the record would overflow (never for an empty file: a record larger than
        // maxBytes still gets written, alone). Give up rotating after a few lost races.
        if (st.size > 0 && st.size + buf.length > this.maxBytes && attempt < 3) {
          this.rotate(st);
          continue; // reopen: the name now points to a new (or someone else's new) file
        }
        let written: number;
        try {
          written = fs.writeSync(fd, buf, 0, buf.length);
        } catch (err) {
          return this.fail(toJournalError('write', this.file, err));
        }
        if (written !== buf.length) {
          return this.fail({
            op: 'write',
            code: 'ESHORTWRITE',
            path: this.file,
            message: `short write: ${written} of ${buf.length} bytes (disk full?); the torn fragment is skipped by readers`,
          });
        }
        const newFile = st.size === 0;
        if (opts.sync === 'deferred') {
          keepOpen = true;
          const held = fd;
          let done: AppendOutcome | undefined;
          this.lastError = null;
          const fileKey = `${st.dev}:${st.ino}`;
          return {
            ok: true,
            bytes: buf.length,
            fileKey,
            sync: (covered = false) => (done ??= covered ? this.closeCovered(held, newFile, buf.length) : this.syncAndClose(held, newFile, buf.length)),
          };
        }
        return this.syncAndClose(fd, newFile, buf.length, false);
      } finally {
        if (!keepOpen) {
          try {
            fs.closeSync(fd);
          } catch {
            /* ignore */
          }
        }
      }
    }
  }

  /**
   * A deferred record whose file a later fsync has made durable: close its fd (and, if it created
   * the file, make the directory entry durable: the later record's fsync does not).
   */
  private closeCovered(fd: number, newFile: boolean, bytes: number): AppendOutcome {
    try {
      fs.closeSync(fd);
    } catch {
      /* ignore */
    }
    if (newFile) fsyncDir(this.dir);
    return { ok: true, bytes };
  }

  /** fsync of a written record (and of the directory for a new file); closes `fd` when asked. */
  private syncAndClose(fd: number, newFile: boolean, bytes: number, close = true): AppendOutcome {
    try {
      fs.fsyncSync(fd);
    } catch (err) {
      return this.fail(toJournalError('fsync', this.file, err));
    } finally {
      if (close) {
        try {
          fs.closeSync(fd);
        } catch {
          /* ignore */
        }
      }
    }
    if (newFile) fsyncDir(this.dir); // a new file: make its directory entry durable too
    this.lastError = null;
    return { ok: true, bytes };
  }

  /**
   * Renames the current file away, but only if the name still points to the inode we measured
   * (another writer may already have rotated it). Never overwrites: the target name is unique.
   */
  private rotate(measured: fs.Stats): void {
    try {
      const now = fs.statSync(this.file);
      if (now.ino !== measured.ino || now.dev !== measured.dev) return; // lost the race: fine
      fs.renameSync(this.file, path.join(this.dir, rotatedFileName()));
      fsyncDir(this.dir);
      this.lastRotationError = null;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else rotated it
      this.lastRotationError = toJournalError('rotate', this.file, err);
      return;
    }
    this.prune();
  }

  /** Deletes the oldest rotated files beyond `keepRotated`. Whole files only. */
  private prune(): void {
    try {
      const rotated = listJournalFiles(this.dir).filter((f) => isRotatedFileName(path.basename(f)));
      const excess = rotated.length - this.keepRotated;
      for (let i = 0; i < excess; i++) {
        try {
          fs.unlinkSync(rotated[i]!);
        } catch {
          /* already pruned by another writer */
        }
      }
    } catch {
      /* best effort */
    }
  }

  private fail(error: JournalError): AppendOutcome {
    this.lastError = error;
    return { ok: false, error };
  }

  /**
   * Can a record be appended right now? Checks that the directory exists (or can be created) and
   * is writable (access(2) W_OK, which reports EROFS for a read-only mount). Does not write, so
   * it cannot see a full disk: `lastError` shows that after a failed append.
   */
  checkWritable(): { writable: true } | { writable: false; error: JournalError } {
    try {
      makeDirs(this.dir, DIR_MODE);
      fs.accessSync(this.dir, fs.constants.W_OK);
      if (fs.existsSync(this.file)) fs.accessSync(this.file, fs.constants.W_OK);
      return { writable: true };
    } catch (err) {
      return { writable: false, error: toJournalError('access', this.dir, err) };
    }
  }

  /** A recorder for the jobs of one `run`/`attach` call. */
  recorder(opts: JournalRecorderOptions = {}): JournalRecorder {
    return new JournalRecorder(this, opts);
  }
}

export interface JournalRecorderOptions {
  /** The identity written as `wrapper` in started records. Default: this process. */
  wrapper?: ProcessIdentity;
  /**
   * Adoption: orphaned jobs' `started` records. For a job listed here the recorder writes no
   * `started` record of its own (the job has one) and marks the result `adopted_by`.
   */
  adopting?: readonly StartedJournalRecord[];
  /** The adopter's identity for `adopted_by`. Default: this process. */
  adopter?: ProcessIdentity;
}

/** What reached the disk for one job. */
export interface JobPersistence {
  started: boolean;
  result: boolean;
  /** The failure for this job, if any (the last one). */
  error: JournalError | null;
}

/**
 * The journal's JobRecorder. One recorder may serve several jobs (one `attach` call adopts many
 * PIDs); records carry the core's `run_id`. Per job: at most one `started` line, then one
 * `result` line or one `detached` line. It keeps the node's open-jobs index (open-jobs.ts) in
 * step: claimed before the start, completed by `started`, marked by `detached`, released once the
 * Result is on disk. Never throws into the core; failures are kept in `lastError` and per job in
 * `persistence(jobId)`.
 */
export class JournalRecorder implements JobRecorder {
  lastError: JournalError | null = null;
  private readonly jobs = new Map<string, JobPersistence>();
  private readonly adopting = new Map<string, StartedJournalRecord>();
  private readonly ended = new Set<string>();
  private readonly open: OpenJobs;
  /** Runs given an exit file: it is removed once the run's Result is durable. */
  private readonly exitFiles = new Set<string>();
  private exitsReady = false;
  /** `started` records written and not yet fsync'd (flushStarted). */
  private readonly pendingStarted: { job: JobPersistence; out: AppendOutcome; runId: string; identity: ProcessIdentity }[] = [];

  constructor(
    private readonly journal: Journal,
    private readonly opts: JournalRecorderOptions = {},
  ) {
    for (const o of opts.adopting ?? []) this.adopting.set(o.run_id, o);
    this.open = new OpenJobs(journal.dir);
  }

  /** What reached the disk for `jobId`. */
  persistence(jobId: string): JobPersistence {
    return { ...(this.jobs.get(jobId) ?? { started: false, result: false, error: null }) };
  }

  private job(jobId: string, runId: string): JobPersistence {
    let j = this.jobs.get(jobId);
    if (!j) {
      j = { started: this.adopting.has(runId), result: false, error: null };
      this.jobs.set(jobId, j);
    }
    return j;
  }

  private failed(job: JobPersistence | null, error: JournalError): void {
    this.lastError = error;
    if (job) job.error = error;
  }

  private wrapper(): ProcessIdentity {
    return this.opts.wrapper ?? ownIdentity();
  }

  claim(jobs: readonly JobClaim[]): readonly OpenJob[] {
    try {
      return this.open.claim(jobs, this.wrapper());
    } catch (err) {
      // No check is possible (the state dir cannot be written): the start goes on; the journal
      // writes that follow will fail and say so.
      this.failed(null, toJournalError('claim', this.open.dir, err));
      return [];
    }
  }

  release(runIds: readonly string[]): void {
    for (const id of runIds) this.open.release(id);
  }

  openJobs(): readonly OpenJob[] {
    try {
      return this.open.open();
    } catch (err) {
      this.failed(null, toJournalError('open-jobs', this.open.dir, err));
      return [];
    }
  }

  claimProcess(runId: string, identity: ProcessIdentity): OpenJob | null {
    try {
      return this.open.claimProcess(runId, identity);
    } catch (err) {
      // An index that cannot be written never blocks a start (as for job ids): no check.
      this.failed(null, toJournalError('open-jobs', this.open.dir, err));
      return null;
    }
  }

  openJobOf(identity: ProcessIdentity): OpenJob | null {
    try {
      return this.open.ownerOf(identity);
    } catch (err) {
      this.failed(null, toJournalError('open-jobs', this.open.dir, err));
      return null;
    }
  }

  exitFileFor(runId: string): string | undefined {
    try {
      if (!this.exitsReady) {
        prepareExitsDir(this.journal.dir);
        this.exitsReady = true;
      }
      const file = exitFilePath(path.resolve(this.journal.dir), runId);
      this.exitFiles.add(runId);
      return file;
    } catch (err) {
      this.failed(null, toJournalError('exits', this.journal.dir, err));
      return undefined;
    }
  }

  governed(runId: string, leaves: readonly string[]): void {
    if (leaves.length > 0) this.open.update(runId, { leaves: [...leaves] });
  }

  started(rec: StartedRecord): void {
    let job: JobPersistence | null = null;
    try {
      job = this.job(rec.job_id, rec.run_id);
      if (this.adopting.has(rec.run_id)) return; // the orphan already has its started record
      if (job.started) {
        this.failed(job, { op: 'started', path: this.journal.file, message: `started() called twice for job ${rec.job_id}; ignored` });
        return;
      }
      const wrapper = this.wrapper();
      const line: StartedJournalRecord = {
        type: 'started',
        v: JOURNAL_RECORD_VERSION,
        run_id: rec.run_id,
        job_id: rec.job_id,
        pid: rec.pid,
        mode: rec.mode,
        ...(rec.intent !== undefined ? { intent: rec.intent } : {}),
        identity: { pid: rec.identity.pid, start_time_ticks: rec.identity.start_time_ticks },
        cgroup: rec.cgroup,
        ...(rec.leaves !== undefined ? { leaves: rec.leaves } : {}),
        ...(rec.cgroup_report !== undefined ? { cgroup_report: rec.cgroup_report } : {}),
        start_time: rec.start_time,
        ...(rec.keeper !== undefined ? { keeper: { pid: rec.keeper.pid, start_time_ticks: rec.keeper.start_time_ticks, exit_file: rec.keeper.exit_file } } : {}),
        wrapper,
      };
      // Written before the caller lets a held workload exec; made durable right after (the
      // fsync need not delay the start: see AppendOptions).
      // The open-jobs index follows in the same deferred step: it may lag a crash anyway (see
      // open-jobs.ts), and the claim already holds the job id.
      const out = this.journal.append(line, { sync: 'deferred' });
      if (out.ok) job.started = true;
      else this.failed(job, out.error);
      this.pendingStarted.push({ job, out, runId: rec.run_id, identity: line.identity });
      if (this.pendingStarted.length === 1) setImmediate(() => this.flushStarted());
    } catch (err) {
      this.failed(job, toJournalError('started', this.journal.file, err));
    }
  }

  /**
   * Group commit of the `started` records written since the last turn of the event loop: one
   * fsync per file for all of them (the newest record's fsync flushes the file), then the
   * open-jobs index. A daemon that governs a burst of a thousand processes pays tens of fsyncs,
   * not a thousand (each 3-4 ms on a VM's ext4).
   */
  private flushStarted(): void {
    const batch = this.pendingStarted.splice(0);
    const lastOf = new Map<string, number>();
    batch.forEach((p, i) => {
      if (p.out.ok && p.out.fileKey !== undefined) lastOf.set(p.out.fileKey, i);
    });
    const synced = new Map<string, AppendOutcome>();
    for (const [fileKey, i] of lastOf) synced.set(fileKey, batch[i]!.out.ok ? batch[i]!.out.sync?.() ?? { ok: true, bytes: 0 } : { ok: true, bytes: 0 });
    batch.forEach((p, i) => {
      if (!p.out.ok) return;
      const key = p.out.fileKey;
      const group = key === undefined ? undefined : synced.get(key);
      let result: AppendOutcome | undefined;
      if (group === undefined) result = p.out.sync?.();
      else if (lastOf.get(key!) === i) result = group;
      else result = group.ok ? p.out.sync?.(true) : p.out.sync?.(); // its own fsync if the group's failed
      if (result !== undefined && !result.ok) this.failed(p.job, result.error);
      try {
        this.open.update(p.runId, { identity: p.identity });
      } catch (err) {
        this.failed(p.job, toJournalError('started', this.open.dir, err));
      }
    });
  }

  detached(rec: DetachedRecord): void {
    let job: JobPersistence | null = null;
    try {
      job = this.job(rec.job_id, rec.run_id);
      if (this.ended.has(rec.run_id)) return;
      this.ended.add(rec.run_id);
      const line: DetachedJournalRecord = { type: 'detached', v: JOURNAL_RECORD_VERSION, ...stripType(rec), wrapper: this.wrapper() };
      const out = this.journal.append(line);
      if (!out.ok) this.failed(job, out.error);
      this.open.update(rec.run_id, { detached: true });
    } catch (err) {
      this.failed(job, toJournalError('detached', this.journal.file, err));
    }
  }

  finished(result: Result, runId: string): void {
    let job: JobPersistence | null = null;
    try {
      job = this.job(result.job_id, runId);
      if (typeof runId !== 'string' || runId === '') {
        this.failed(job, { op: 'finished', path: this.journal.file, message: `finished() without a run id for job ${result.job_id}; not written` });
        return;
      }
      if (this.ended.has(runId)) {
        this.failed(job, { op: 'finished', path: this.journal.file, message: `job ${result.job_id} already ended; second Result not written` });
        return;
      }
      this.ended.add(runId);
      const line: ResultJournalRecord = {
        type: 'result',
        v: JOURNAL_RECORD_VERSION,
        run_id: runId,
        ...(this.adopting.has(runId) ? { adopted_by: this.opts.adopter ?? ownIdentity() } : {}),
        ...result,
      };
      const out = this.journal.append(line);
      if (out.ok) {
        job.result = true;
        this.open.release(runId, result.job_id); // the Result is on disk: the job is no longer open
        // ... and its keeper's exit file (if it had one) has said all it had to say.
        if (this.exitFiles.has(runId) || this.adopting.get(runId)?.keeper !== undefined) {
          removeExitFile(exitFilePath(path.resolve(this.journal.dir), runId));
        }
      } else {
        this.failed(job, out.error);
      }
    } catch (err) {
      this.failed(job, toJournalError('finished', this.journal.file, err));
    }
  }
}

function stripType(rec: DetachedRecord): Omit<DetachedRecord, 'type'> {
  const { type: _t, ...rest } = rec;
  return rest;
}
