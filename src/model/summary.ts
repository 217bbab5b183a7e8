import type { Result } from './result';

/**
 * The one line a human greps at 03:00 (docs/results.md "The summary line"), exactly:
 * `JOB <id> | intent=<x> | sla=COMPLIANT | reason=<r> | runtime=<n>s | exit=<n> | pid=<n>`
 *
 * - the intent segment only when an intent was given;
 * - runtime in whole seconds, rounded (the Result keeps milliseconds);
 * - exit: the exit code; the signal name (`exit=SIGKILL`) when killed by a signal;
 *   `unknown` when nobody could tell us;
 * - pid: `unknown` only when the workload never started.
 */
export function summaryLine(r: Result): string {
  const parts = [`JOB ${r.job_id}`];
  if (r.intent !== undefined) parts.push(`intent=${r.intent}`);
  parts.push(
    `sla=${r.platform_sla_compliant ? 'COMPLIANT' : 'VIOLATION'}`,
    `reason=${r.platform_sla_reason}`,
    `runtime=${Math.round(r.processing_seconds)}s`,
    `exit=${exitField(r)}`,
    `pid=${r.pid ?? 'unknown'}`,
  );
  return parts.join(' | ');
}

export function exitField(r: Pick<Result, 'exit_code' | 'signal'>): string {
  if (r.exit_code !== null) return String(r.exit_code);
  if (r.signal !== null) return r.signal;
  return 'unknown';
}
