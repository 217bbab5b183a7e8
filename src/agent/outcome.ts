/**
 * How a job's end is told to the queue, and read back by a producer.
 *
 * - Wrapper path: the Result (docs/results.md). Legacy path: the LegacyOutcome (`path: 'legacy'`).
 * - Exit 0 → the queue job is `completed` with the outcome as its return value.
 * - Anything else (a non-zero exit, a signal, an unknown end, a command that could not start) →
 *   `failed` with a BullMQ UnrecoverableError (never retried: retrying is the producer's call);
 *   its reason is the summary line, and the outcome is attached as a job log line
 *   `ffrtmp-result <JSON>` (logs need no lock, so a job the queue failed meanwhile gets it too).
 */
import type { Result } from '../model/result';
import { exitField, summaryLine } from '../model/summary';
import type { LegacyOutcome } from './legacy';

export type JobOutcome = Result | LegacyOutcome;

export const RESULT_LOG_PREFIX = 'ffrtmp-result ';

export function isLegacy(o: JobOutcome): o is LegacyOutcome {
  return (o as LegacyOutcome).path === 'legacy';
}

/** The queue job completes only when the workload exited 0. */
export function succeeded(o: JobOutcome): boolean {
  return o.exit_code === 0 && !('spawn_error' in o && o.spawn_error !== undefined);
}

/** The legacy path's one line (it has no platform SLA: nothing governed it). */
export function legacyLine(o: LegacyOutcome): string {
  const parts = [`JOB ${o.job_id}`, 'path=legacy', `runtime=${Math.round(o.processing_seconds)}s`, `exit=${exitField(o)}`, `pid=${o.pid ?? 'unknown'}`];
  if (o.spawn_error) parts.push(`error=${o.spawn_error.code}`);
  return parts.join(' | ');
}

/** The line for either path. */
export function outcomeLine(o: JobOutcome): string {
  return isLegacy(o) ? legacyLine(o) : summaryLine(o);
}

/** The failed queue job's reason: what went wrong, then the line. */
export function failureReason(o: JobOutcome): string {
  let what: string;
  if ('spawn_error' in o && o.spawn_error !== undefined) what = `the workload could not be started (${o.spawn_error.code})`;
  else if (o.exit_code !== null) what = `the workload exited ${o.exit_code}`;
  else if (o.signal !== null) what = `the workload was killed by ${o.signal}`;
  else what = 'the workload ended with an unknown status';
  return `${what}: ${outcomeLine(o)}`;
}

export function resultLogLine(o: JobOutcome): string {
  return `${RESULT_LOG_PREFIX}${JSON.stringify(o)}`;
}

/** The outcome in a job's logs (the last one), or null. */
export function outcomeFromLogs(logs: readonly string[]): JobOutcome | null {
  for (let i = logs.length - 1; i >= 0; i--) {
    const l = logs[i]!;
    if (!l.startsWith(RESULT_LOG_PREFIX)) continue;
    try {
      return JSON.parse(l.slice(RESULT_LOG_PREFIX.length)) as JobOutcome;
    } catch {
      return null;
    }
  }
  return null;
}
