/**
 * What the commands print and write: the summary line (text or JSON), event lines, the Result as
 * JSON, the atomic --result-file. Pure formatting except writeResultFile.
 */
import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
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
