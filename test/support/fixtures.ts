/**
 * Shared fixtures. Results are built by the library's own `freezeResult`, so a fixture can never
 * be a Result the library could not produce (compliance always follows from the reason).
 */
import { createHash } from 'node:crypto';
import { freezeResult } from '../../src/model/build-result';
import type { ExitSource, Mode, Result, SpawnError } from '../../src/model/result';
import type { SlaReason } from '../../src/model/sla';
import type { CgroupProblem, CgroupReport, Usage } from '../../src/model/cgroup-report';
import type { StartedRecord } from '../../src/journal/types';

export const T0 = Date.parse('2026-01-06T10:00:00.000Z');

/** A run id derived from the job id (16 hex): a fixture's started and result records pair up. */
export function runIdOf(jobId: string): string {
  return createHash('sha256').update(jobId).digest('hex').slice(0, 16);
}

export interface ResultOver {
  pid?: number | null;
  mode?: Mode;
  intent?: string;
  startedAtMs?: number;
  /** processing_seconds. Default 87.5. */
  seconds?: number;
  exit_code?: number | null;
  signal?: string | null;
  /** Default: `waitid` when a code or signal is known, else `unknown`. */
  exit_source?: ExitSource;
  reason?: SlaReason;
  usage?: Usage | null;
  spawn_error?: SpawnError;
  cgroup?: CgroupReport;
}

/** A frozen Result for `job_id`: by default run, exit 0, completed_successfully, 87.5 s from T0. */
export function aResult(job_id: string, over: ResultOver = {}): Result {
  const startedAtMs = over.startedAtMs ?? T0;
  const exit_code = over.exit_code === undefined ? 0 : over.exit_code;
  const signal = over.signal ?? null;
  return freezeResult({
    job_id,
    pid: over.pid === undefined ? 4242 : over.pid,
    mode: over.mode ?? 'run',
    ...(over.intent !== undefined ? { intent: over.intent } : {}),
    startedAtMs,
    endedAtMs: startedAtMs + (over.seconds ?? 87.5) * 1000,
    exit: { exit_code, signal, exit_source: over.exit_source ?? (exit_code === null && signal === null ? 'unknown' : 'waitid') },
    reason: over.reason ?? 'completed_successfully',
    ...(over.usage !== undefined ? { usage: over.usage } : {}),
    ...(over.spawn_error !== undefined ? { spawn_error: over.spawn_error } : {}),
    ...(over.cgroup !== undefined ? { cgroup: over.cgroup } : {}),
  });
}

/** The `started` record a wrapper hands its recorder for `job_id`. */
export function aStarted(job_id: string, over: Partial<StartedRecord> = {}): StartedRecord {
  const pid = over.pid ?? process.pid;
  return {
    type: 'started',
    run_id: runIdOf(job_id),
    job_id,
    pid,
    mode: 'run',
    identity: { pid, start_time_ticks: '12345' },
    cgroup: null,
    start_time: new Date(T0).toISOString(),
    ...over,
  };
}

/** A job's cgroup report with these problems: v2, governed by `--cgroup-root`, nothing else to say. */
export function aCgroupReport(problems: CgroupProblem[]): CgroupReport {
  return { mode: 'v2', root_source: 'flag', leaves: [], placement: 'none', limits: [], problems, warnings: [] };
}
