/**
 * Questions asked of the journal's records (as returned by `readJournal`). Pure functions.
 *
 * Jobs are paired by `run_id` (one per run/attach invocation), so a `job_id` reused by several
 * runs does not confuse them; lookups by `job_id` return the most recent match.
 */
import type { DetachedJournalRecord, JournalRecord, ResultJournalRecord, StartedJournalRecord } from './types';

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
 * same process, alive, and has not let go of the job) and orphans (the wrapper is gone, or it
 * detached: a detached job is nobody's until it is adopted, even while the process that let go of
 * it lives on). `isAlive` is injected (identity.ts `isSameProcessAlive` on the wrapper in
 * production).
 */
export function classifyUnfinished(
  records: readonly JournalRecord[],
  isAlive: (rec: StartedJournalRecord) => boolean,
): { inFlight: StartedJournalRecord[]; orphans: StartedJournalRecord[] } {
  const detached = new Set<string>();
  for (const r of records) if (r.type === 'detached') detached.add(r.run_id);
  const inFlight: StartedJournalRecord[] = [];
  const orphans: StartedJournalRecord[] = [];
  for (const r of findUnfinished(records)) (!detached.has(r.run_id) && isAlive(r) ? inFlight : orphans).push(r);
  return { inFlight, orphans };
}

/** How a job without its Result stands. */
export type OpenState =
  /** Its wrapper is alive and watching it. */
  | 'running'
  /** Its wrapper let go (SIGINT/SIGTERM/SIGHUP) and the workload still runs, unwatched. */
  | 'detached'
  /** Its wrapper is gone (killed, or detached and the workload has ended since): `ffrtmp recover` records its end. */
  | 'orphaned';

export interface OpenJobState {
  readonly started: StartedJournalRecord;
  readonly state: OpenState;
  readonly detached?: DetachedJournalRecord;
}

/**
 * Every job without its Result, with how it stands, oldest first. `isAlive` is injected
 * (identity.ts `isSameProcessAlive` in production) and asked about wrappers and workloads.
 */
export function openJobStates(
  records: readonly JournalRecord[],
  isAlive: (id: StartedJournalRecord['wrapper']) => boolean,
): OpenJobState[] {
  const detached = new Map<string, DetachedJournalRecord>();
  for (const r of records) if (r.type === 'detached') detached.set(r.run_id, r);
  return findUnfinished(records).map((started) => {
    const d = detached.get(started.run_id);
    if (d !== undefined) {
      return { started, detached: d, state: isAlive(started.identity) ? 'detached' : 'orphaned' };
    }
    return { started, state: isAlive(started.wrapper) ? 'running' : 'orphaned' };
  });
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
