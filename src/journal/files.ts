/**
 * Journal file naming.
 *
 * - `journal.jsonl`: the current file, the one writers append to.
 * - `journal.<UTC yyyymmddThhmmssmmm>Z-<pid>-<8 hex>.jsonl`: a rotated file. The name is unique
 *   (pid + random), so a rotation never replaces another file (rename(2) would silently overwrite
 *   an existing target: a logrotate-style `journal.1.jsonl` shift is a lost-records race when
 *   several processes rotate at once). The fixed-width timestamp makes lexical order the rotation
 *   order.
 *
 * Readers read every rotated file in name order, then the current file.
 */
import { randomHex } from '../model/random';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const CURRENT_FILE = 'journal.jsonl';
const ROTATED_PATTERN = /^journal\.\d{8}T\d{9}Z-\d+-[0-9a-f]{8}\.jsonl$/;

export function isJournalFileName(name: string): boolean {
  return name === CURRENT_FILE || ROTATED_PATTERN.test(name);
}

export function isRotatedFileName(name: string): boolean {
  return ROTATED_PATTERN.test(name);
}

/** A fresh, unique name for rotating the current file away. */
export function rotatedFileName(now: Date = new Date(), pid: number = process.pid): string {
  const iso = now.toISOString(); // 2026-01-06T10:00:00.123Z
  const stamp = iso.replace(/[-:]/g, '').replace('.', ''); // 20260106T100000123Z
  return `journal.${stamp}-${pid}-${randomHex(4)}.jsonl`;
}

/**
 * The journal files in `dir`, oldest first: rotated files in name order, then the current file.
 * Absolute paths. A missing directory is an empty journal; other errors throw (callers catch).
 */
export function listJournalFiles(dir: string): string[] {
  const names = readdirOrEmpty(dir);
  const rotated = names.filter(isRotatedFileName).sort();
  const out = rotated.map((n) => path.join(dir, n));
  if (names.includes(CURRENT_FILE)) out.push(path.join(dir, CURRENT_FILE));
  return out;
}

/**
 * `mkdir -p` that always terminates. Node's own `mkdirSync(dir, { recursive: true })` spins
 * forever on a path whose parent refuses new entries with ENOENT (anything under /proc, say
 * `--state-dir /proc/x`): it keeps re-creating the existing parent and retrying. Here each
 * component is tried once, parents first, and the first real error is thrown.
 */
export function makeDirs(dir: string, mode: number): void {
  const missing: string[] = [];
  let p = path.resolve(dir);
  while (!fs.existsSync(p)) {
    missing.push(p);
    const parent = path.dirname(p);
    if (parent === p) break;
    p = parent;
  }
  for (const d of missing.reverse()) {
    try {
      fs.mkdirSync(d, { mode });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}

/** The names in `dir`; a missing directory is empty. Other errors throw. */
export function readdirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

/**
 * Removes a file; a missing one is fine. `fs.rmSync(f, { force: true })` does the same for a file,
 * through much more JavaScript (it is rimraf), and it sat on every run's path.
 */
export function removeFile(file: string): void {
  try {
    fs.unlinkSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
}
