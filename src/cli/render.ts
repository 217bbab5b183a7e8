import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Result } from '../model/result';
import { summaryLine } from '../model/summary';

/** The Result as one JSON document on one line (stable key order: the Result's own). */
export function resultJson(r: Result): string {
  return JSON.stringify(r);
}

export { summaryLine };

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
