import { shown } from '../../model/quote';
import { exitField } from '../../model/summary';
import { isSameProcessAlive } from '../../journal/identity';
import { classifyUnfinished, findResults, recentResults } from '../../journal/query';
import { readJournal } from '../../journal/reader';
import type { ResultJournalRecord, StartedJournalRecord } from '../../journal/types';
import { jobsShowExitCode } from '../exit-codes';
import { openJournal } from '../journal';

/** A Result as shown to humans and scripts: the journal line without its `type`/`v` envelope. */
function served(r: ResultJournalRecord): Omit<ResultJournalRecord, 'type' | 'v'> {
  const { type: _t, v: _v, ...rest } = r;
  return rest;
}

const COLUMNS = ['JOB', 'MODE', 'SLA', 'REASON', 'EXIT', 'RUNTIME', 'PID', 'ENDED'] as const;

/** A plain aligned table, newest first. */
export function renderJobsTable(results: readonly ResultJournalRecord[]): string {
  const rows = results.map((r) => [
    r.job_id,
    r.mode,
    r.platform_sla_compliant ? 'ok' : 'VIOLATION',
    r.platform_sla_reason,
    exitField(r),
    `${r.processing_seconds.toFixed(1)}s`,
    r.pid === null ? '-' : String(r.pid),
    r.end_time.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
  ]);
  const all = [[...COLUMNS] as string[], ...rows];
  const widths = COLUMNS.map((_, i) => Math.max(...all.map((row) => row[i]!.length)));
  return all.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ')).join('\n') + '\n';
}

function unfinishedNote(inFlight: StartedJournalRecord[], orphans: StartedJournalRecord[]): string | null {
  if (inFlight.length === 0 && orphans.length === 0) return null;
  const parts: string[] = [];
  if (inFlight.length > 0) parts.push(`${inFlight.length} running`);
  if (orphans.length > 0) parts.push(`${orphans.length} orphaned (wrapper gone; \`ffrtmp recover\` adopts them)`);
  return parts.join(', ');
}

/**
 * `ffrtmp jobs [--limit N] [--json]` and `ffrtmp jobs show <job-id>`: read the journal. A
 * missing journal is an empty one. Journal problems (torn lines) are reported on stderr.
 */
export async function listAction(opts: { stateDir?: string; limit: number; json?: boolean }): Promise<number> {
  const journal = openJournal(opts.stateDir, 'read');
  const { records, problems } = readJournal(journal.dir);
  for (const p of problems) process.stderr.write(`ffrtmp: journal ${p.file}:${p.line}: ${p.reason}\n`);
  const results = recentResults(records, opts.limit);
  if (opts.json) {
    process.stdout.write(`${JSON.stringify(results.map(served))}\n`);
    return 0;
  }
  if (results.length === 0) process.stdout.write(`no job Results in ${journal.dir}\n`);
  else process.stdout.write(renderJobsTable(results));
  const { inFlight, orphans } = classifyUnfinished(records, (r) => isSameProcessAlive(r.wrapper));
  const note = unfinishedNote(inFlight, orphans);
  if (note !== null) process.stdout.write(`(${note})\n`);
  return 0;
}

export async function showAction(jobId: string, opts: { stateDir?: string }): Promise<number> {
  const journal = openJournal(opts.stateDir, 'read');
  const { records, problems } = readJournal(journal.dir);
  for (const p of problems) process.stderr.write(`ffrtmp: journal ${p.file}:${p.line}: ${p.reason}\n`);
  const results = findResults(records, jobId);
  const latest = results[results.length - 1];
  if (latest !== undefined) {
    process.stdout.write(`${JSON.stringify(served(latest), null, 2)}\n`);
    if (results.length > 1) process.stderr.write(`ffrtmp: job id ${shown(jobId)} has ${results.length} Results; showing the latest\n`);
    return jobsShowExitCode(true);
  }
  const { inFlight, orphans } = classifyUnfinished(
    records.filter((r) => r.job_id === jobId),
    (r) => isSameProcessAlive(r.wrapper),
  );
  const open = [...inFlight.map((r) => ({ state: 'running', r })), ...orphans.map((r) => ({ state: 'orphaned', r }))];
  if (open.length > 0) {
    const { state, r } = open[open.length - 1]!;
    const { type: _t, v: _v, ...started } = r;
    process.stdout.write(`${JSON.stringify({ state, started }, null, 2)}\n`);
    return jobsShowExitCode(true);
  }
  process.stderr.write(`ffrtmp: no job ${shown(jobId)} in the journal in ${journal.dir}\n`);
  return jobsShowExitCode(false);
}
