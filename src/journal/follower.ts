/**
 * Following the journal as other processes append to it (`ffrtmp serve`).
 *
 * Files are tracked by inode (dev:ino + birth time), not by name, with a byte offset each. A
 * rotation is a rename, so the old current file keeps its inode and its offset: its remaining
 * records (including ones still being appended through old fds) are read under its new name, and
 * the new `journal.jsonl` is a new inode read from 0. Pruned files drop out (after missing from two
 * listings in a row; an inode number reused by a new file is recognised by its birth time or a
 * size below the offset). Only complete lines
 * (up to the last newline) are consumed; a partial last line stays unread until its newline
 * arrives, so a write in progress is never mistaken for a torn record and no record is read
 * twice or skipped.
 *
 * `sync()` is synchronous and does all the work; `start()` adds fs.watch on the state directory
 * (a hint to sync soon) and a polling interval as a safety net (fs.watch can miss events).
 */
import * as fs from 'node:fs';
import { listJournalFiles } from './files';
import { parseCompleteLines, type JournalProblem } from './reader';
import type { JournalRecord } from './types';

export interface FollowerOptions {
  dir: string;
  onRecord: (record: JournalRecord) => void;
  onProblem?: (problem: JournalProblem) => void;
  /** Safety-net poll interval in ms (default 1000). */
  pollIntervalMs?: number;
}

interface FileState {
  offset: number;
  /** Line number of the next unread line (1-based). */
  line: number;
  birth: number;
  /** Consecutive syncs in whose listing this inode did not appear. */
  missed: number;
}

export interface FollowerStats {
  files: number;
  records: number;
  problems: number;
  /** Whether fs.watch is active (false: polling only). */
  watching: boolean;
}

export class JournalFollower {
  private readonly files = new Map<string, FileState>();
  private watcher: fs.FSWatcher | null = null;
  private timer: NodeJS.Timeout | null = null;
  private pending = false;
  private closed = false;
  private readonly stats: FollowerStats = { files: 0, records: 0, problems: 0, watching: false };

  constructor(private readonly opts: FollowerOptions) {}

  /** Reads every complete line appended since the last call, in journal order. Never throws. */
  sync(): number {
    let count = 0;
    let paths: string[];
    try {
      paths = listJournalFiles(this.opts.dir);
    } catch (err) {
      this.problem({ file: this.opts.dir, line: 0, reason: `cannot list state directory: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      return 0;
    }
    const seen = new Set<string>();
    for (const p of paths) {
      let fd: number;
      try {
        fd = fs.openSync(p, 'r');
      } catch {
        continue; // rotated away or pruned since the listing: picked up under its new name next time
      }
      try {
        const st = fs.fstatSync(fd);
        const key = `${st.dev}:${st.ino}`;
        seen.add(key);
        let state = this.files.get(key);
        if (state === undefined || state.birth !== st.birthtimeMs || st.size < state.offset) {
          // New file (or an inode number reused by a new file): read from the start.
          state = { offset: 0, line: 1, birth: st.birthtimeMs, missed: 0 };
          this.files.set(key, state);
        }
        state.missed = 0;
        if (st.size <= state.offset) continue;
        const buf = Buffer.allocUnsafe(st.size - state.offset);
        let got = 0;
        while (got < buf.length) {
          const n = fs.readSync(fd, buf, got, buf.length - got, state.offset + got);
          if (n === 0) break;
          got += n;
        }
        const end = buf.lastIndexOf(0x0a, got - 1);
        if (end < 0) continue; // no complete line yet
        const text = buf.subarray(0, end + 1).toString('utf8');
        const records: JournalRecord[] = [];
        const problems: JournalProblem[] = [];
        const { lines } = parseCompleteLines(text, p, state.line, records, problems);
        state.offset += end + 1;
        state.line += lines;
        for (const pr of problems) this.problem(pr);
        for (const r of records) {
          this.stats.records++;
          count++;
          try {
            this.opts.onRecord(r);
          } catch {
            /* a consumer bug must not stop the follower */
          }
        }
      } catch (err) {
        this.problem({ file: p, line: 0, reason: `cannot read file: ${(err as NodeJS.ErrnoException).code ?? String(err)}` });
      } finally {
        fs.closeSync(fd);
      }
    }
    // Forget a file only after it is missing from two listings in a row: a file can be missing
    // from one listing without being gone (listed just before a rotation renamed it, opened as
    // the new journal.jsonl just after). Forgetting it then would re-read it from 0.
    for (const [key, st] of this.files) {
      if (!seen.has(key) && ++st.missed >= 2) this.files.delete(key);
    }
    this.stats.files = this.files.size;
    return count;
  }

  /** Initial sync, then follow: fs.watch on the directory plus a polling safety net. */
  start(): number {
    const n = this.sync();
    try {
      this.watcher = fs.watch(this.opts.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', () => {
        this.watcher?.close();
        this.watcher = null;
        this.stats.watching = false;
      });
      this.stats.watching = true;
    } catch {
      this.stats.watching = false; // e.g. the directory does not exist yet: polling finds it later
    }
    this.timer = setInterval(() => this.schedule(), this.opts.pollIntervalMs ?? 1000);
    this.timer.unref();
    return n;
  }

  private schedule(): void {
    if (this.pending || this.closed) return;
    this.pending = true;
    setImmediate(() => {
      this.pending = false;
      if (!this.closed) this.sync();
    });
  }

  private problem(p: JournalProblem): void {
    this.stats.problems++;
    try {
      this.opts.onProblem?.(p);
    } catch {
      /* ignore */
    }
  }

  getStats(): FollowerStats {
    return { ...this.stats };
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    this.watcher = null;
    this.stats.watching = false;
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}
