/**
 * Reading the journal. Never fatal: whatever cannot be used is skipped and reported as a problem
 * (`{ file, line, reason }`), everything else is returned.
 *
 * Torn writes. A record is one write(2) of `<json>\n`. If a writer died mid-write (power loss) or
 * the disk filled up during the write (a short write), a fragment without a newline is left behind,
 * and the next record appended by anyone lands on the same line, glued to the fragment. A complete
 * record always ends at a newline, so the only complete record such a line can contain is the
 * last one, and every record starts with `{"type":"` (the writer puts `type` first; inside a JSON
 * string a `"` is always escaped, so that byte sequence cannot occur in a value, and no record
 * nests an object whose first key is `type`). The reader therefore splits an unparseable line at
 * every `{"type":"`, keeps the pieces that are whole records and reports the others as fragments.
 * (Should a record ever nest such an object, only a record glued to a torn fragment could be lost
 * by the split, and it would be reported, never silently dropped.) A fragment at the very end of the last file (no newline yet) is reported
 * as an incomplete last line; it may also be a write in progress, which the follower
 * (follower.ts) handles by waiting for the newline.
 */
import * as fs from 'node:fs';
import { listJournalFiles } from './files';
import { EXIT_SOURCES as SOURCES } from '../model/result';
import type { JournalRecord, ProcessIdentity } from './types';

export interface JournalProblem {
  /** Absolute path of the file. */
  readonly file: string;
  /** 1-based line number in that file. */
  readonly line: number;
  readonly reason: string;
}

export interface JournalReadResult {
  /** Every usable record, in journal order (rotated files oldest first, then the current file). */
  readonly records: JournalRecord[];
  readonly problems: JournalProblem[];
  /** The files that were read, in order. */
  readonly files: string[];
}

const RECORD_START = '{"type":"';
const MODES = new Set(['run', 'attach']);
const EXIT_SOURCES = new Set<string>(SOURCES);

function isObj(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
const isStr = (v: unknown): v is string => typeof v === 'string';
const isStrOrNull = (v: unknown): boolean => v === null || typeof v === 'string';
const isPid = (v: unknown): boolean => Number.isSafeInteger(v) && (v as number) > 0;
const isIntOrNull = (v: unknown): boolean => v === null || Number.isSafeInteger(v);

function isIdentity(v: unknown): v is ProcessIdentity {
  return isObj(v) && isPid(v.pid) && (v.start_time_ticks === null || (isStr(v.start_time_ticks) && /^\d+$/.test(v.start_time_ticks)));
}

/**
 * Checks the shape of a parsed line. Returns the record, or a reason it is unusable. Unknown
 * extra fields are allowed (forward compatibility); unknown record types are not usable here.
 */
export function validateRecord(v: unknown): JournalRecord | string {
  if (!isObj(v)) return 'not a JSON object';
  if (!isStr(v.run_id) || v.run_id === '') return 'missing run_id';
  if (!isStr(v.job_id) || v.job_id === '') return 'missing job_id';
  if (!isStr(v.mode) || !MODES.has(v.mode)) return 'bad mode';
  if (!isStr(v.start_time)) return 'missing start_time';
  if (v.type === 'started') {
    if (!isPid(v.pid)) return 'started: bad pid';
    if (!isIdentity(v.identity)) return 'started: bad identity';
    if (!isIdentity(v.wrapper)) return 'started: bad wrapper identity';
    if (!isStrOrNull(v.cgroup)) return 'started: bad cgroup';
    if (v.keeper !== undefined && !(isIdentity(v.keeper) && isStr((v.keeper as { exit_file?: unknown }).exit_file))) {
      return 'started: bad keeper';
    }
    return v as unknown as JournalRecord;
  }
  if (v.type === 'detached') {
    if (!isPid(v.pid)) return 'detached: bad pid';
    if (!isStr(v.detached_at)) return 'detached: missing detached_at';
    if (!isIdentity(v.wrapper)) return 'detached: bad wrapper identity';
    return v as unknown as JournalRecord;
  }
  if (v.type === 'result') {
    if (!(v.pid === null || isPid(v.pid))) return 'result: bad pid';
    if (!isStr(v.end_time)) return 'result: missing end_time';
    if (typeof v.processing_seconds !== 'number' || !Number.isFinite(v.processing_seconds)) {
      return 'result: bad processing_seconds';
    }
    if (!isIntOrNull(v.exit_code)) return 'result: bad exit_code';
    if (!isStrOrNull(v.signal)) return 'result: bad signal';
    if (!isStr(v.exit_source) || !EXIT_SOURCES.has(v.exit_source)) return 'result: bad exit_source';
    if (typeof v.platform_sla_compliant !== 'boolean') return 'result: bad platform_sla_compliant';
    if (!isStr(v.platform_sla_reason) || v.platform_sla_reason === '') return 'result: bad platform_sla_reason';
    return v as unknown as JournalRecord;
  }
  return `unknown record type ${JSON.stringify(v.type)}`;
}

function tryParse(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/**
 * Parses one complete line (without its newline) into `records` / `problems`. Empty lines are
 * ignored silently.
 */
export function parseLine(
  line: string,
  file: string,
  lineNo: number,
  records: JournalRecord[],
  problems: JournalProblem[],
): void {
  if (line.trim() === '') return;
  const whole = tryParse(line);
  if (whole.ok) {
    pushValidated(whole.value, file, lineNo, records, problems);
    return;
  }
  // Resynchronise: split at every record start; each piece is either a whole record (one whose
  // newline was lost) or a torn fragment.
  const starts: number[] = [];
  for (let i = line.indexOf(RECORD_START); i >= 0; i = line.indexOf(RECORD_START, i + 1)) starts.push(i);
  if (starts.length === 0 || (starts.length === 1 && starts[0] === 0)) {
    problems.push({ file, line: lineNo, reason: 'unparseable line (torn or corrupt record) skipped' });
    return;
  }
  if (starts[0]! > 0) starts.unshift(0);
  for (let k = 0; k < starts.length; k++) {
    const piece = line.slice(starts[k], k + 1 < starts.length ? starts[k + 1] : undefined);
    const parsed = tryParse(piece);
    if (parsed.ok) {
      pushValidated(parsed.value, file, lineNo, records, problems);
    } else {
      problems.push({
        file,
        line: lineNo,
        reason: `torn record fragment (${Buffer.byteLength(piece)} bytes) skipped; records glued to it on the same line were kept`,
      });
    }
  }
}

function pushValidated(
  value: unknown,
  file: string,
  lineNo: number,
  records: JournalRecord[],
  problems: JournalProblem[],
): void {
  const rec = validateRecord(value);
  if (typeof rec === 'string') {
    problems.push({ file, line: lineNo, reason: `unusable record skipped: ${rec}` });
    return;
  }
  records.push(rec);
}

/**
 * Parses the complete lines of `text` (which starts at line `firstLine` of `file`). Returns the
 * number of characters consumed (up to and including the last newline) and whatever follows it
 * (an incomplete last line, possibly empty), which the caller decides about.
 */
export function parseCompleteLines(
  text: string,
  file: string,
  firstLine: number,
  records: JournalRecord[],
  problems: JournalProblem[],
): { consumed: number; lines: number; rest: string } {
  const end = text.lastIndexOf('\n');
  if (end < 0) return { consumed: 0, lines: 0, rest: text };
  const complete = text.slice(0, end);
  const lines = complete.split('\n');
  for (let i = 0; i < lines.length; i++) parseLine(lines[i]!, file, firstLine + i, records, problems);
  return { consumed: end + 1, lines: lines.length, rest: text.slice(end + 1) };
}

/** Reads one file entirely. An incomplete last line is skipped and reported. */
export function readJournalFile(file: string, records: JournalRecord[], problems: JournalProblem[]): void {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // A file rotated away and pruned between listing and reading is simply gone.
    if (e.code === 'ENOENT') return;
    problems.push({ file, line: 0, reason: `cannot read file: ${e.code ?? e.message}` });
    return;
  }
  const { lines, rest } = parseCompleteLines(text, file, 1, records, problems);
  if (rest.trim() !== '') {
    problems.push({
      file,
      line: lines + 1,
      reason: `incomplete last line (${Buffer.byteLength(rest)} bytes, no newline) skipped: a crash mid-write or a write in progress`,
    });
  }
}

/** Reads the whole journal in `dir`. Never throws. A missing directory is an empty journal. */
export function readJournal(dir: string): JournalReadResult {
  const records: JournalRecord[] = [];
  const problems: JournalProblem[] = [];
  let files: string[] = [];
  try {
    files = listJournalFiles(dir);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    problems.push({ file: dir, line: 0, reason: `cannot list state directory: ${e.code ?? e.message}` });
    return { records, problems, files };
  }
  for (const f of files) readJournalFile(f, records, problems);
  return { records, problems, files };
}
