/**
 * Questions asked of the journal's records (as returned by `readJournal`). Pure functions.
 *
 * Jobs are paired by `run_id` (one per run/attach invocation), so a `job_id` reused by several
 * runs does not confuse them; lookups by `job_id` return the most recent match.
 */
import type { JournalRecord, ResultJournalRecord, StartedJournalRecord } from './types';

/**
 * `started` records that have no `result`: the jobs still being observed by a live wrapper AND
 * the orphans whose wrapper died. Telling them apart needs the process table: see
 * `classifyUnfinished`. Journal order (oldest first).
 */
export function findUnfinished(records: readonly JournalRecord[]): StartedJournalRecord[] {
  const finished = new Set<string>();
  for (const r of records) if (r.type === 'result') finished.add(r.run_id);
  const seen = new Set<string>();
  const out: StartedJournalRecord[] = [];
  for (const r of records) {
    if (r.type !== 'started' || finished.has(r.run_id) || seen.has(r.run_id)) continue;
    seen.add(r.run_id);
    out.push(r);
  }
  return out;
}

/**
 * Splits unfinished jobs into in-flight (the wrapper that wrote the started record is still that
 * same process and alive) and orphans (it is gone). `isAlive` is injected (identity.ts
 * `isSameProcessAlive` in production).
 */
export function classifyUnfinished(
  records: readonly JournalRecord[],
  isAlive: (rec: StartedJournalRecord) => boolean,
): { inFlight: StartedJournalRecord[]; orphans: StartedJournalRecord[] } {
  const inFlight: StartedJournalRecord[] = [];
  const orphans: StartedJournalRecord[] = [];
  for (const r of findUnfinished(records)) (isAlive(r) ? inFlight : orphans).push(r);
  return { inFlight, orphans };
}

/** Orphans: started, no result, and the owning wrapper process is gone. */
export function findOrphans(
  records: readonly JournalRecord[],
  isWrapperAlive: (rec: StartedJournalRecord) => boolean,
): StartedJournalRecord[] {
  return classifyUnfinished(records, isWrapperAlive).orphans;
}

/** The most recent Result for `jobId` (last in journal order), or null. */
export function findResult(records: readonly JournalRecord[], jobId: string): ResultJournalRecord | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.type === 'result' && r.job_id === jobId) return r;
  }
  return null;
}

/** Every Result for `jobId`, oldest first (a job id may be reused). */
export function findResults(records: readonly JournalRecord[], jobId: string): ResultJournalRecord[] {
  return records.filter((r): r is ResultJournalRecord => r.type === 'result' && r.job_id === jobId);
}

/** The Result with this run_id, or null. */
export function findResultByRunId(records: readonly JournalRecord[], runId: string): ResultJournalRecord | null {
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    if (r.type === 'result' && r.run_id === runId) return r;
  }
  return null;
}

/**
 * The `n` most recent Results, newest first. "Recent" is journal order (the order the Results
 * were written, i.e. by when each job ended as seen by its writer), not start time.
 */
export function recentResults(records: readonly JournalRecord[], n: number): ResultJournalRecord[] {
  const out: ResultJournalRecord[] = [];
  for (let i = records.length - 1; i >= 0 && out.length < n; i--) {
    const r = records[i]!;
    if (r.type === 'result') out.push(r);
  }
  return out;
}
