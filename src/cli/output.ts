/**
 * What the commands print and write: the summary line (text or JSON), event lines, the Result as
 * JSON, the atomic --result-file. Pure formatting except writeResultFile.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { StartedRecord } from '../journal/types';
import { shown } from '../model/quote';
import type { Result, SpawnError } from '../model/result';
import { summaryLine } from '../model/summary';
import type { LogFormat } from './options';

/** The Result as one JSON document on one line (stable key order: the Result's own). */
export function resultJson(r: Result): string {
  return JSON.stringify(r);
}

/**
 * The per-job summary: the text line, or with `json` one JSON object on one line:
 * `{"event":"job_result", ...Result, "summary": "<the text line>"}`.
 */
export function formatSummary(result: Result, format: LogFormat): string {
  if (format === 'text') return summaryLine(result);
  return JSON.stringify({ event: 'job_result', ...result, summary: summaryLine(result) });
}

/** A non-job message (`serve` lifecycle, recover notes) in the chosen format. */
export function formatEvent(format: LogFormat, event: string, text: string, fields: Record<string, unknown> = {}): string {
  if (format === 'text') return `ffrtmp: ${text}`;
  return JSON.stringify({ event, message: text, ...fields });
}

/**
 * Writes the Result to `path` atomically: a temporary file in the same directory, fsync'd, then
 * renamed over the target, so a reader never sees half a Result.
 */
export function writeResultFile(path: string, r: Result): void {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  const fd = openSync(tmp, 'w', 0o644);
  try {
    writeSync(fd, `${JSON.stringify(r, null, 2)}\n`);
    fsyncSync(fd);
  } catch (err) {
    closeSync(fd);
    unlinkSync(tmp);
    throw err;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

/**
 * The one stderr line `attach` prints when it moved processes out of their own cgroups (null
 * when it moved none): how many, and what they left, naming systemd units, whose limits no
 * longer apply to them.
 */
export function movedNote(started: readonly StartedRecord[]): string | null {
  const moved = started.filter((s) => (s.cgroup_report?.moved_from?.length ?? 0) > 0);
  if (moved.length === 0) return null;
  const left = new Map<string, number>();
  for (const s of moved) {
    const seen = new Set<string>();
    for (const m of s.cgroup_report!.moved_from!) {
      const what = m.unit !== undefined ? `systemd unit ${m.unit}` : `${m.hierarchy}:${m.path.length > 48 ? `${m.path.slice(0, 47)}…` : m.path}`;
      if (seen.has(what)) continue;
      seen.add(what);
      left.set(what, (left.get(what) ?? 0) + 1);
    }
  }
  const from = [...left].slice(0, 5).map(([what, n]) => (moved.length > 1 ? `${what} ×${n}` : what)).join(', ');
  const more = left.size > 5 ? `, and ${left.size - 5} more` : '';
  const who = moved.length === 1 ? `pid ${moved[0]!.pid}` : `${moved.length} processes`;
  return `ffrtmp: moved ${who} into job cgroups for the limits asked for, out of ${from}${more}: the limits of what ${moved.length === 1 ? 'it' : 'they'} left no longer apply`;
}

/** The stderr line after a detach: the workload runs on, and who records its end. */
export function detachNote(count: number, pid?: number): string {
  const what = count === 1 && pid !== undefined ? `pid ${pid} keeps` : `${count} processes keep`;
  return `ffrtmp: detached: ${what} running, unwatched; \`ffrtmp recover\` (or a running \`ffrtmp serve\`) records the end`;
}

/** What the run action learned about the path that failed to execute (it stats it; this file stays pure). */
export interface SpawnPathFacts {
  /** The workload's PATH (undefined: unset, so execvp's default `/bin:/usr/bin`). */
  PATH: string | undefined;
  /** `spawn_error.path` exists. */
  exists: boolean;
  /** `spawn_error.path` is a directory. */
  isDirectory: boolean;
}

/** execvp's search path when PATH is unset (src/observer/command-path.ts). */
const DEFAULT_EXEC_PATH = '/bin:/usr/bin';
const PATH_SHOWN_MAX = 80;

/**
 * The PATH, briefly: whole when short, else its first entries that fit and how many there are
 * (`/usr/local/sbin:/usr/local/bin:… (14 entries)`).
 */
export function briefPath(value: string | undefined): string {
  if (value === undefined) return `PATH is unset: ${DEFAULT_EXEC_PATH}`;
  if (value.length <= PATH_SHOWN_MAX) return value === '' ? 'PATH is empty' : value;
  const entries = value.split(':');
  if (entries.length === 1) return shown(value, PATH_SHOWN_MAX - 20);
  let out = '';
  for (const e of entries) {
    const next = out === '' ? e : `${out}:${e}`;
    if (next.length > PATH_SHOWN_MAX - 20) break;
    out = next;
  }
  if (out === '') out = shown(entries[0] ?? '', PATH_SHOWN_MAX - 20);
  return `${out}:… (${entries.length} entries)`;
}

/** `EAGAIN: resource temporarily unavailable, clone3` → `resource temporarily unavailable (EAGAIN, clone3)`. */
function errnoWords(e: SpawnError): string {
  const m = /^([A-Z0-9_]+): ([^,]+)/.exec(e.message);
  const code = m ? m[1]! : e.code;
  const words = m ? m[2]! : 'failed';
  return e.syscall === 'execve' ? `${words} (${code})` : `${words} (${code}, ${e.syscall})`;
}

/**
 * The stderr line when the workload could not be started: what a user can act on.
 * `ffrtmp: cannot start ffmpegx: not found in PATH (/usr/local/bin:/usr/bin:/bin)`,
 * `... ./media: is a directory`, `... ./job.sh: permission denied (EACCES)`. The Result keeps
 * the raw `spawn_error`.
 */
export function spawnFailureLine(command: string, e: SpawnError, facts: SpawnPathFacts): string {
  // Name the path the kernel refused when it is not what the user typed (a PATH candidate).
  const other = e.path !== undefined && e.path !== command;
  const head = `ffrtmp: cannot start ${shown(command)}: ${other ? `${shown(e.path!)} ` : ''}`;
  if (e.syscall === 'chdir') return `ffrtmp: cannot start ${shown(command)}: cannot enter its working directory ${shown(e.path ?? '')}: ${errnoWords(e)}`;
  if (e.syscall !== 'execve') return `ffrtmp: cannot start ${shown(command)}: ${errnoWords(e)}`;
  switch (e.code) {
    case 'ENOENT':
      if (facts.exists) return `${head}exists, but its interpreter (the #! line) or loader was not found (ENOENT)`;
      if (!command.includes('/')) return `ffrtmp: cannot start ${shown(command)}: not found in PATH (${briefPath(facts.PATH)})`;
      return `${head}no such file or directory (ENOENT)`;
    case 'EACCES':
      if (facts.isDirectory) return `${head}is a directory`;
      return `${head}permission denied (EACCES: not executable, or a directory on its path is not searchable)`;
    case 'ENOEXEC':
      return `${head}not a program this system can run (ENOEXEC: exec format error)`;
    default:
      return `${head}${errnoWords(e)}`;
  }
}
