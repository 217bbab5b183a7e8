import { isSameProcessAlive } from '../../journal/identity';
import { findResults, openJobStates, type OpenJobState } from '../../journal/query';
import { readJournal } from '../../journal/reader';
import type { JournalRecord, ResultJournalRecord } from '../../journal/types';
import { shown } from '../../model/quote';
import { exitField } from '../../model/summary';
import { jobsShowExitCode } from '../exit-codes';
import { openJournal } from '../journal';
import { stderr, stdout } from '../stdio';

/** A Result as shown to humans and scripts: the journal line without its `type`/`v` envelope. */
function served(r: ResultJournalRecord): Omit<ResultJournalRecord, 'type' | 'v'> {
  const { type: _t, v: _v, ...rest } = r;
  return rest;
}

export interface JobsFilter {
  violations?: boolean;
  intent?: string;
  /** ms since the epoch. */
  since?: number;
}

/** The table fits this many columns: the JOB column gives way (long ids are truncated). */
export const TABLE_WIDTH = 120;
const COLUMNS = ['JOB', 'MODE', 'INTENT', 'SLA', 'REASON', 'EXIT', 'RUNTIME', 'CPU', 'MEM', 'OOM', 'PID', 'ENDED (UTC)'] as const;

function cut(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, Math.max(1, max - 1))}…`;
}

/** Job ids keep both ends (generated ids differ in their last characters): `run-2026…c90e9c`. */
function cutMiddle(s: string, max: number): string {
  if (s.length <= max) return s;
  const tail = Math.floor((max - 1) / 2);
  return `${s.slice(0, max - 1 - tail)}…${s.slice(s.length - tail)}`;
}

function seconds(s: number): string {
  if (s < 3600) return `${s.toFixed(1)}s`;
  const h = Math.floor(s / 3600);
  return `${h}h${String(Math.floor((s - h * 3600) / 60)).padStart(2, '0')}m`;
}

function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined) return '-';
  const units = ['B', 'K', 'M', 'G', 'T'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v >= 10 || u === 0 ? Math.round(v) : v.toFixed(1)}${units[u]}`;
}

/** `2026-11-22T01:41:41.623Z` → `11-22 01:41:41`. */
const shortTime = (iso: string): string => iso.slice(5, 19).replace('T', ' ');

function resultRow(r: ResultJournalRecord): string[] {
  const u = r.usage ?? null;
  return [
    r.job_id,
    r.mode,
    r.intent ?? '-',
    r.platform_sla_compliant ? 'ok' : 'VIOLATION',
    r.platform_sla_reason,
    exitField(r),
    seconds(r.processing_seconds),
    u?.cpu_seconds === null || u?.cpu_seconds === undefined ? '-' : `${u.cpu_seconds.toFixed(1)}s`,
    bytes(u?.memory_peak_bytes),
    u?.oom_kills === null || u?.oom_kills === undefined ? '-' : String(u.oom_kills),
    r.pid === null ? '-' : String(r.pid),
    shortTime(r.end_time),
  ];
}

function openRow(o: OpenJobState, now: number): string[] {
  const s = o.started;
  return [s.job_id, s.mode, s.intent ?? '-', o.state, '-', '-', seconds(Math.max(0, now - Date.parse(s.start_time)) / 1000), '-', '-', '-', String(s.pid), '-'];
}

/**
 * A plain aligned table: open jobs first, then Results newest first. It fits TABLE_WIDTH
 * columns: the JOB column takes what the others leave (at least 12), the INTENT column at most
 * 12; longer values are cut with `…` (`jobs show <id>` has them whole).
 */
export function renderJobsTable(results: readonly ResultJournalRecord[], open: readonly OpenJobState[] = [], now: number = Date.now()): string {
  const rows = [...open.map((o) => openRow(o, now)), ...results.map(resultRow)].map((row) => {
    row[2] = cut(row[2]!, 12);
    return row;
  });
  const all = [[...COLUMNS] as string[], ...rows];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  const others = widths.slice(1).reduce((a, b) => a + b, 0) + 2 * (COLUMNS.length - 1);
  widths[0] = Math.min(widths[0]!, Math.max(12, TABLE_WIDTH - others));
  return (
    all
      .map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : (i === 0 ? cutMiddle : cut)(cell, widths[i]!).padEnd(widths[i]!))).join('  '))
      .join('\n') + '\n'
  );
}

function matchResult(r: ResultJournalRecord, f: JobsFilter): boolean {
  if (f.violations && r.platform_sla_compliant) return false;
  if (f.intent !== undefined && r.intent !== f.intent) return false;
  if (f.since !== undefined && Date.parse(r.end_time) < f.since) return false;
  return true;
}

function matchOpen(o: OpenJobState, f: JobsFilter): boolean {
  if (f.violations) return false; // not ended: no verdict yet
  if (f.intent !== undefined && o.started.intent !== f.intent) return false;
  if (f.since !== undefined && Date.parse(o.started.start_time) < f.since) return false;
  return true;
}

/** The newest `limit` Results matching `f`, newest first. */
function recentMatching(records: readonly JournalRecord[], limit: number, f: JobsFilter): ResultJournalRecord[] {
  const out: ResultJournalRecord[] = [];
  for (let i = records.length - 1; i >= 0 && out.length < limit; i--) {
    const r = records[i]!;
    if (r.type === 'result' && matchResult(r, f)) out.push(r);
  }
  return out;
}

const wholeLife = (id: { pid: number; start_time_ticks: string | null }): boolean => isSameProcessAlive(id);

export async function listAction(opts: { stateDir?: string; limit: number; json?: boolean } & JobsFilter): Promise<number> {
  const journal = openJournal(opts.stateDir, 'read');
  const { records, problems } = readJournal(journal.dir);
  for (const p of problems) stderr.write(`ffrtmp: journal ${p.file}:${p.line}: ${p.reason}\n`);
  const results = recentMatching(records, opts.limit, opts);
  if (opts.json) {
    stdout.write(`${JSON.stringify(results.map(served))}\n`);
    return 0;
  }
  const open = openJobStates(records, wholeLife).filter((o) => matchOpen(o, opts)).reverse();
  if (results.length === 0 && open.length === 0) {
    stdout.write(`no jobs${opts.violations || opts.intent !== undefined || opts.since !== undefined ? ' matching the filters' : ''} in ${journal.dir}\n`);
    return 0;
  }
  stdout.write(renderJobsTable(results, open));
  const orphans = open.filter((o) => o.state === 'orphaned').length;
  if (orphans > 0) stdout.write(`(${orphans} orphaned: their wrapper is gone; \`ffrtmp recover\` records their end)\n`);
  return 0;
}

export async function showAction(jobId: string, opts: { stateDir?: string }): Promise<number> {
  const journal = openJournal(opts.stateDir, 'read');
  const { records, problems } = readJournal(journal.dir);
  for (const p of problems) stderr.write(`ffrtmp: journal ${p.file}:${p.line}: ${p.reason}\n`);
  const open = openJobStates(records.filter((r) => r.job_id === jobId), wholeLife);
  const current = open[open.length - 1];
  if (current !== undefined) {
    const { type: _t, v: _v, ...started } = current.started;
    stdout.write(`${JSON.stringify({ state: current.state, started, ...(current.detached ? { detached_at: current.detached.detached_at } : {}) }, null, 2)}\n`);
    return jobsShowExitCode(true);
  }
  const results = findResults(records, jobId);
  const latest = results[results.length - 1];
  if (latest !== undefined) {
    stdout.write(`${JSON.stringify(served(latest), null, 2)}\n`);
    if (results.length > 1) stderr.write(`ffrtmp: job id ${shown(jobId)} has ${results.length} Results; showing the latest\n`);
    return jobsShowExitCode(true);
  }
  stderr.write(`ffrtmp: no job ${shown(jobId)} in the journal in ${journal.dir}\n`);
  return jobsShowExitCode(false);
}
