/**
 * The open jobs of a node: `<state-dir>/open/<run_id>.json`, one small file per run that has
 * started (or is being started) and has no Result yet. It answers, without reading the whole
 * journal (which can be hundreds of MB), the two questions a start must ask first:
 *
 * - is this job id running now? (`run --job-id X` twice is refused while the first runs);
 * - is this process already governed by a live ffrtmp job? (`attach` refuses it).
 *
 * The journal stays the truth; this is an index of it, kept by the recorder: an entry is written
 * before anything is created (the claim), completed when the workload exists, marked when the
 * wrapper detaches, and removed once the job's Result is in the journal (by the wrapper, or by
 * whoever adopts the job). Entries are replaced atomically (temp file + rename) and not fsync'd:
 * after a crash an entry may be missing (a conflict goes unnoticed) or stale (it no longer counts:
 * see `isOpen`), never torn.
 *
 * Claims are race-free without locks: every claimant writes its entry (and a marker named by its job
 * id, `by-job/<job_id>.<run_id>`) first and then reads the entries of its job id; of the open
 * entries for one job id, the oldest (creation time, then run id) wins and every other claimant
 * removes its own entry and refuses. Two simultaneous `run --job-id X` therefore start exactly one
 * workload. A claim costs one listing of the markers and a read per entry of the same job id, not a
 * read of every open job of the node.
 *
 * "Is this process governed?" is answered the same way: once a job's workload is known, a marker
 * named by its identity (`by-process/<pid>.<start ticks>`, holding the run id) is written BEFORE
 * the entry says so, so that the question costs one read, not a read of every open entry (an
 * auto-attach daemon asks it for every process it finds).
 */
import { randomHex } from '../model/random';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { makeDirs, readdirOrEmpty, removeFile } from './files';
import { isSameProcessAlive } from './identity';
import type { JobClaim, OpenJob, ProcessIdentity } from './types';

const RUN_FILE = /^([0-9a-f]{16})\.json$/;

/** An entry as stored: the open job plus when it was claimed. */
export interface OpenJobEntry extends OpenJob {
  readonly claimed_at_ms: number;
}

export function openJobsDir(stateDir: string): string {
  return path.join(stateDir, 'open');
}

/**
 * Still open: its workload is alive (the same process: pid and start time), or, while the
 * workload is not known yet, or was never recorded, its wrapper is alive.
 */
export function isOpen(e: OpenJob, alive: (id: ProcessIdentity) => boolean = isSameProcessAlive): boolean {
  if (e.identity !== null && alive(e.identity)) return true;
  return !e.detached && alive(e.wrapper);
}

/** `a` was claimed before `b`: the older claim of a job id wins. */
function older(a: OpenJobEntry, b: OpenJobEntry): boolean {
  return a.claimed_at_ms !== b.claimed_at_ms ? a.claimed_at_ms < b.claimed_at_ms : a.run_id < b.run_id;
}

/** `<job_id>.<run_id>`: a job id never contains a slash; the run id is the last 16 hex digits. */
const MARKER = /^(.+)\.([0-9a-f]{16})$/;

export class OpenJobs {
  readonly dir: string;
  /**
   * `by-job/<job_id>.<run_id>`: one empty marker per entry, so that a claim finds the entries of
   * its own job id from one directory listing, instead of reading every open entry of the node
   * (hundreds of live streams: that made each start O(n), the node's starts O(n²)).
   */
  private readonly markers: string;
  /** `by-process/<pid>.<start ticks>`: the run id of the open job whose workload it is. */
  private readonly processes: string;

  constructor(stateDir: string) {
    this.dir = openJobsDir(stateDir);
    this.markers = path.join(this.dir, 'by-job');
    this.processes = path.join(this.dir, 'by-process');
  }

  private processMarker(id: ProcessIdentity): string | null {
    return id.start_time_ticks === null ? null : path.join(this.processes, `${id.pid}.${id.start_time_ticks}`);
  }

  /**
   * The open job whose workload is `id` (same pid and start time), or null. One marker read and
   * one entry read. A marker left by a crash (no entry, or an entry of another process) is removed.
   */
  ownerOf(id: ProcessIdentity): OpenJobEntry | null {
    const marker = this.processMarker(id);
    if (marker === null) return null;
    let runId = '';
    try {
      // Empty only in the instant between an exclusive create and its write (no hard links):
      // that is a claim being made, never a stale marker.
      for (let i = 0; i < 100 && runId === ''; i++) {
        runId = fs.readFileSync(marker, 'latin1').trim();
        if (runId === '') Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1);
      }
    } catch {
      return null;
    }
    const e = RUN_FILE.test(`${runId}.json`) ? this.read(runId) : null;
    // The marker is written before the entry's identity: an entry still without one is that window.
    const same = e !== null && (e.identity === null || (e.identity.pid === id.pid && e.identity.start_time_ticks === id.start_time_ticks));
    if (e === null || !same) {
      removeFile(marker);
      return null;
    }
    const effective: OpenJobEntry = e.identity === null ? { ...e, identity: id } : e;
    return isOpen(effective) ? effective : null;
  }

  private file(runId: string): string {
    return path.join(this.dir, `${runId}.json`);
  }

  private marker(jobId: string, runId: string): string {
    return path.join(this.markers, `${jobId}.${runId}`);
  }

  /** The run ids with a marker for `jobId`. */
  private runsOf(jobId: string, names: readonly string[]): string[] {
    const out: string[] = [];
    for (const name of names) {
      const m = MARKER.exec(name);
      if (m !== null && m[1] === jobId) out.push(m[2]!);
    }
    return out;
  }

  /** Writes an entry atomically (temp + rename). Throws on I/O errors. */
  private write(e: OpenJobEntry): void {
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomHex(4)}`);
    fs.writeFileSync(tmp, `${JSON.stringify(e)}\n`, { mode: 0o640 });
    try {
      fs.renameSync(tmp, this.file(e.run_id));
    } catch (err) {
      removeFile(tmp);
      throw err;
    }
  }

  private read(runId: string): OpenJobEntry | null {
    try {
      const v = JSON.parse(fs.readFileSync(this.file(runId), 'utf8')) as OpenJobEntry;
      return v && typeof v.job_id === 'string' && v.run_id === runId ? v : null;
    } catch {
      return null;
    }
  }

  /** Every entry (open or stale). A missing directory is none. */
  list(): OpenJobEntry[] {
    const out: OpenJobEntry[] = [];
    for (const name of readdirOrEmpty(this.dir)) {
      const m = RUN_FILE.exec(name);
      if (!m) continue;
      const e = this.read(m[1]!);
      if (e !== null) out.push(e);
    }
    return out;
  }

  /** The jobs open now (see `isOpen`). */
  open(): OpenJobEntry[] {
    return this.list().filter((e) => isOpen(e));
  }

  /**
   * Claims the job ids of `jobs` for `wrapper`. Returns the open jobs that hold any of them
   * (empty: all claimed). On a conflict nothing stays claimed. Throws on I/O errors (the caller
   * decides: a state dir that cannot be written means no check, never a blocked workload).
   */
  claim(jobs: readonly JobClaim[], wrapper: ProcessIdentity, now: number = Date.now()): OpenJobEntry[] {
    if (jobs.length === 0) return [];
    makeDirs(this.markers, 0o750);
    const mine = jobs.map((j): OpenJobEntry => ({ run_id: j.run_id, job_id: j.job_id, mode: j.mode, identity: null, wrapper, detached: false, claimed_at_ms: now }));
    const written: OpenJobEntry[] = [];
    try {
      for (const e of mine) {
        this.write(e);
        written.push(e);
        fs.writeFileSync(this.marker(e.job_id, e.run_id), '', { mode: 0o640 });
      }
    } catch (err) {
      for (const e of written) this.release(e.run_id, e.job_id);
      throw err;
    }
    const ours = new Set(mine.map((e) => e.run_id));
    const byJob = new Map<string, OpenJobEntry[]>();
    const names = readdirOrEmpty(this.markers);
    for (const jobId of new Set(mine.map((e) => e.job_id))) {
      for (const runId of this.runsOf(jobId, names)) {
        if (ours.has(runId)) continue;
        const e = this.read(runId);
        if (e === null) {
          removeFile(this.marker(jobId, runId)); // its entry is gone: a crash between the two
          continue;
        }
        if (!isOpen(e)) continue;
        const list = byJob.get(e.job_id) ?? [];
        list.push(e);
        byJob.set(e.job_id, list);
      }
    }
    const holders: OpenJobEntry[] = [];
    for (const e of mine) {
      const winner = (byJob.get(e.job_id) ?? []).find((other) => older(other, e));
      if (winner) holders.push(winner);
    }
    if (holders.length > 0) for (const e of mine) this.release(e.run_id, e.job_id);
    return holders;
  }

  /**
   * Claims a process for the open job `runId` (already claimed by its job id): race-free, the
   * marker is created exclusively. Returns the open job that holds the process already (nothing is
   * changed then), or null once it is ours. A marker of a job no longer open is replaced.
   */
  claimProcess(runId: string, id: ProcessIdentity): OpenJobEntry | null {
    const marker = this.processMarker(id);
    if (marker === null) return null;
    makeDirs(this.processes, 0o750);
    for (let attempt = 0; attempt < 3; attempt++) {
      // Created whole or not at all: written aside, then linked to its name (link fails if the
      // name exists). A marker created empty and written after could be read empty by another
      // claimant, taken for stale and removed: two winners (seen under load in CI).
      // A file system without hard links: create exclusively, then write (readers wait out the
      // empty instant, see ownerOf).
      const tmp = path.join(this.processes, `.tmp-${runId}-${randomHex(4)}`);
      try {
        try {
          fs.writeFileSync(tmp, runId, { mode: 0o640 });
          fs.linkSync(tmp, marker);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'EEXIST') throw err;
          fs.writeFileSync(marker, runId, { mode: 0o640, flag: 'wx' });
        }
        this.update(runId, { identity: id }); // so that release() finds the marker to remove
        return null;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      } finally {
        removeFile(tmp);
      }
      const owner = this.ownerOf(id); // removes a stale marker
      if (owner !== null && owner.run_id !== runId) return owner;
      if (owner !== null) return null; // ours already
    }
    return this.ownerOf(id);
  }

  /** Completes or marks an entry (the workload exists; the wrapper let go). Best effort. */
  update(runId: string, patch: Partial<Pick<OpenJob, 'identity' | 'detached' | 'wrapper' | 'leaves'>>): void {
    const e = this.read(runId);
    if (e === null) return;
    try {
      const marker = patch.identity ? this.processMarker(patch.identity) : null;
      if (marker !== null) {
        makeDirs(this.processes, 0o750);
        fs.writeFileSync(marker, runId, { mode: 0o640 });
      }
      const next = { ...e, ...patch };
      if (JSON.stringify(next) !== JSON.stringify(e)) this.write(next); // a no-op costs one read
    } catch {
      /* an index: the journal has the truth */
    }
  }

  /** Removes the entry and its marker (its Result is in the journal, or it never started). Idempotent. */
  release(runId: string, jobId?: string): void {
    const e = this.read(runId);
    jobId ??= e?.job_id;
    const marker = e?.identity ? this.processMarker(e.identity) : null;
    if (marker !== null) {
      try {
        if (fs.readFileSync(marker, 'latin1').trim() === runId) fs.unlinkSync(marker);
      } catch {
        /* already gone */
      }
    }
    if (jobId !== undefined) {
      try {
        fs.unlinkSync(this.marker(jobId, runId));
      } catch {
        /* already gone, or never made (an entry of an older version) */
      }
    }
    try {
      fs.unlinkSync(this.file(runId));
    } catch {
      /* already gone */
    }
  }
}
