/**
 * The legacy path (`wrapper_enabled` false or absent, or the node's kill switch): what a plain
 * queue worker did before the wrapper existed, kept exactly so. The command is spawned as a child
 * of the agent with Node's child_process: no cgroup, no journal, no keeper, no claim on the job
 * id; its output goes where the agent's goes. What comes back is its exit code, signal and
 * duration: a LegacyOutcome, not a Result (nothing governed it, so there is no platform SLA to
 * report).
 *
 * Like every path of ffrtmp it never signals the workload: aborting `signal` (the agent stopping)
 * only stops waiting for it. A child spawned this way shares the agent's process group, as a plain
 * worker's did: a Ctrl-C in the agent's terminal reaches it too (systemd sends SIGTERM to the
 * agent alone with KillMode=process). That is the legacy behaviour; the wrapper path is the one
 * that survives everything.
 */
import { spawn } from 'node:child_process';
import { isoMs } from '../model/build-result';
import type { AgentJob } from './job';

/** How a legacy job ended (the queue job's return value, or what its failure carries). */
export interface LegacyOutcome {
  readonly path: 'legacy';
  readonly job_id: string;
  /** null when it never started. */
  readonly pid: number | null;
  readonly start_time: string;
  readonly end_time: string;
  readonly processing_seconds: number;
  /** null when killed by a signal, or unknown. */
  readonly exit_code: number | null;
  readonly signal: string | null;
  /**
   * `child_process`: the agent reaped its own child. `unknown`: nobody could tell (the agent was
   * restarted while the job ran and the kernel keeps no status for a process that is not our child).
   * `pidfd_info`: a restarted agent read it from the kernel (Linux 6.15+).
   */
  readonly exit_source: 'child_process' | 'pidfd_info' | 'unknown';
  /** Only when the command could not be started (ENOENT, EACCES, a bad workdir). */
  readonly spawn_error?: { readonly code: string; readonly message: string };
  /** Set when the end was recorded by a restarted agent, not the one that started the job. */
  readonly note?: string;
}

export type LegacyRun = { readonly detached: true; readonly pid: number | null } | { readonly detached: false; readonly outcome: LegacyOutcome };

export interface LegacyOptions {
  /** The workload's environment (already merged: agentEnvironment). */
  env: NodeJS.ProcessEnv;
  /** Aborting stops waiting (the workload runs on, unwatched): `{ detached: true }`. */
  signal?: AbortSignal;
  /** Called once the child exists, before the wait (the agent records its pid). */
  onSpawned?: (pid: number) => void;
}

export function legacyOutcome(fields: Omit<LegacyOutcome, 'path' | 'processing_seconds' | 'start_time' | 'end_time'> & { startedAtMs: number; endedAtMs: number }): LegacyOutcome {
  const { startedAtMs, endedAtMs, ...rest } = fields;
  return Object.freeze({
    path: 'legacy' as const,
    ...rest,
    start_time: isoMs(startedAtMs),
    end_time: isoMs(endedAtMs),
    processing_seconds: Math.max(0, endedAtMs - startedAtMs) / 1000,
  });
}

/** Runs the job as a plain child process and waits for its end (or the abort). Never throws. */
export function executeLegacy(job: AgentJob, opts: LegacyOptions): Promise<LegacyRun> {
  return new Promise((resolve) => {
    const startedAtMs = Date.now();
    if (opts.signal?.aborted) {
      resolve({ detached: true, pid: null });
      return;
    }
    let settled = false;
    const done = (r: LegacyRun): void => {
      if (settled) return;
      settled = true;
      opts.signal?.removeEventListener('abort', onAbort);
      resolve(r);
    };
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(job.command, [...job.args], { cwd: job.workdir, env: opts.env, stdio: ['ignore', 'inherit', 'inherit'] });
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      done({ detached: false, outcome: legacyOutcome({ job_id: job.id, pid: null, exit_code: null, signal: null, exit_source: 'unknown', spawn_error: { code: e.code ?? 'UNKNOWN', message: e.message }, startedAtMs, endedAtMs: Date.now() }) });
      return;
    }
    const onAbort = (): void => {
      // Stop waiting, touch nothing: the child runs on (reparented when the agent exits).
      child.removeAllListeners('exit');
      child.removeAllListeners('error');
      child.on('error', () => {});
      child.unref();
      done({ detached: true, pid: child.pid ?? null });
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.once('spawn', () => {
      if (child.pid !== undefined) opts.onSpawned?.(child.pid);
    });
    child.once('error', (err: NodeJS.ErrnoException) => {
      // Only a failed start reaches here with no pid (ENOENT, EACCES, a missing cwd).
      done({
        detached: false,
        outcome: legacyOutcome({ job_id: job.id, pid: child.pid ?? null, exit_code: null, signal: null, exit_source: 'unknown', spawn_error: { code: err.code ?? 'UNKNOWN', message: err.message }, startedAtMs, endedAtMs: Date.now() }),
      });
    });
    child.once('exit', (code, signal) => {
      done({ detached: false, outcome: legacyOutcome({ job_id: job.id, pid: child.pid ?? null, exit_code: code, signal, exit_source: 'child_process', startedAtMs, endedAtMs: Date.now() }) });
    });
  });
}
