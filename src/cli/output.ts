/**
 * What the commands print and write: the summary line (text or JSON), event lines, the Result as
 * JSON, the atomic --result-file. Pure formatting except writeResultFile.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { StartedRecord } from '../journal/types';
import type { Result } from '../model/result';
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
