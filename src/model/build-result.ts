import type { Result, ResultInput } from './result';
import { isCompliant } from './sla';

/** ISO 8601 with milliseconds, UTC (`2026-11-22T01:40:14.123Z`). */
export function isoMs(ms: number): string {
  return new Date(Math.round(ms)).toISOString();
}

/**
 * Builds the one immutable Result of a job. Compliance is derived from the reason (one
 * table, src/core/sla.ts), so the two can never disagree.
 */
export function freezeResult(input: ResultInput): Result {
  const start = Math.round(input.startedAtMs);
  const end = Math.max(start, Math.round(input.endedAtMs));
  const result: Result = {
    job_id: input.job_id,
    pid: input.pid,
    mode: input.mode,
    ...(input.intent !== undefined ? { intent: input.intent } : {}),
    start_time: isoMs(start),
    end_time: isoMs(end),
    processing_seconds: (end - start) / 1000,
    exit_code: input.exit.exit_code,
    signal: input.exit.signal,
    exit_source: input.exit.exit_source,
    platform_sla_compliant: isCompliant(input.reason),
    platform_sla_reason: input.reason,
    ...(input.spawn_error !== undefined ? { spawn_error: Object.freeze({ ...input.spawn_error }) } : {}),
    ...(input.usage !== undefined ? { usage: input.usage } : {}),
    ...(input.cgroup !== undefined ? { cgroup: input.cgroup } : {}),
    ...(input.keeper !== undefined ? { keeper: Object.freeze({ ...input.keeper }) } : {}),
  };
  return Object.freeze(result);
}
