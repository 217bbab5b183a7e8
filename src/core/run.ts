import { statSync } from 'node:fs';
import { checkGovernanceInput, Governance, type GovernanceOptions } from './governance';
import type { JobRecorder } from '../journal/types';
import type { ExitObserver, ObservedExit, SpawnedChild } from '../observer/types';
import { selectObserver } from '../observer/select';
import { readStartTime } from '../observer/procfs';
import { freezeResult, isoMs } from '../model/build-result';
import { UsageError } from '../model/errors';
import { validateIntent } from '../model/intent';
import { shown } from '../model/quote';
import { generateJobId, validateJobId } from '../model/job-id';
import { UNKNOWN_EXIT, type Result, type SpawnError } from '../model/result';
import type { SlaReason } from '../model/sla';
import { untilExitOrDetach } from './wait';

export interface RunSpec {
  /** The workload: a name looked up in PATH, or a path. */
  command: string;
  args?: readonly string[];
  /** Generated (`run-<utc>-<hex>`) when absent. */
  jobId?: string;
  intent?: string;
  /** Directory the workload starts in (must exist). */
  workdir?: string;
  /** The workload's environment; default: the wrapper's. */
  env?: NodeJS.ProcessEnv;
  /** Aborting detaches: the Result says `detached_workload_continues`; the workload is never signalled. */
  signal?: AbortSignal;
  /** Durable record of the job (the journal). Never throws into us. */
  recorder?: JobRecorder;
  /** Default: selectObserver(). */
  observer?: ExitObserver;
  /**
   * cgroup governance (docs/cgroups.md): limits, `--cgroup-root`. Default: a job cgroup for
   * usage accounting only, where cgroups are available; `{ enabled: false }` for none.
   */
  governance?: GovernanceOptions;
}

/** The validated, canonical form of a RunSpec. Throws UsageError; nothing is started. */
export function validateRunSpec(spec: RunSpec): Required<Pick<RunSpec, 'command' | 'args' | 'jobId'>> & RunSpec {
  if (typeof spec.command !== 'string' || spec.command.length === 0) {
    throw new UsageError('no command given: use `ffrtmp run [options] -- <command> [args...]`');
  }
  if (spec.command.includes('\0') || (spec.args ?? []).some((a) => a.includes('\0'))) {
    throw new UsageError('command and arguments must not contain NUL bytes');
  }
  const jobId = spec.jobId === undefined ? generateJobId('run') : validateJobId(spec.jobId);
  checkGovernanceInput(jobId, spec.governance);
  if (spec.intent !== undefined) validateIntent(spec.intent);
  if (spec.workdir !== undefined) {
    let isDir = false;
    try {
      isDir = statSync(spec.workdir).isDirectory();
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new UsageError(`--workdir ${shown(spec.workdir)}: ${e.code === 'ENOENT' ? 'no such directory' : e.code ?? e.message}`);
    }
    if (!isDir) throw new UsageError(`--workdir ${shown(spec.workdir)}: not a directory`);
  }
  return { ...spec, jobId, args: spec.args ?? [] };
}

/**
 * Starts a workload, watches it until it exits (or until `signal` detaches us) and returns its
 * one frozen Result. Never prints, never exits the process, never signals the workload.
 * Throws only UsageError (bad input, nothing started).
 */
export async function run(spec: RunSpec): Promise<Result> {
  const s = validateRunSpec(spec);
  const observer = s.observer ?? selectObserver();
  const base = { job_id: s.jobId, mode: 'run' as const, intent: s.intent };
  const gov = Governance.create(s.jobId, 'run', s.governance);
  const startedAtMs = Date.now();

  let child: SpawnedChild;
  try {
    child = await gov.spawn(observer, {
      command: s.command,
      args: s.args,
      cwd: s.workdir ?? null,
      env: s.env ?? process.env,
    });
  } catch (err) {
    const spawnError = asSpawnError(err);
    const endedAtMs = Date.now();
    const governed = await gov.finish('ended');
    const result = freezeResult({
      ...base,
      pid: (err as { pid?: number }).pid ?? null,
      startedAtMs,
      endedAtMs,
      exit: UNKNOWN_EXIT,
      reason: gov.reason(classifySpawnFailure(spawnError), false),
      spawn_error: spawnError,
      ...(governed ?? {}),
    });
    s.recorder?.finished(result);
    return result;
  }

  s.recorder?.started({
    type: 'started',
    ...base,
    pid: child.pid,
    identity: { pid: child.pid, start_time_ticks: readStartTime(child.pid) },
    cgroup: gov.journalPath(),
    start_time: isoMs(startedAtMs),
  });

  const outcome = await untilExitOrDetach(child.watch, s.signal);
  const final = finalFields(outcome, 'run');
  const governed = await gov.finish(outcome === 'detached' ? 'detached' : 'ended');
  const result = freezeResult({
    ...base,
    pid: child.pid,
    startedAtMs,
    ...final,
    reason: gov.reason(final.reason, true),
    ...(governed ?? {}),
  });
  s.recorder?.finished(result);
  return result;
}

/** End time, exit status and reason once the wait is over (shared with attach). */
export function finalFields(
  outcome: ObservedExit | 'detached',
  mode: 'run' | 'attach',
): { endedAtMs: number; exit: ObservedExit['status']; reason: SlaReason } {
  if (outcome === 'detached') {
    return { endedAtMs: Date.now(), exit: UNKNOWN_EXIT, reason: 'detached_workload_continues' };
  }
  const { exitedAtMs, status } = outcome;
  if (mode === 'attach') return { endedAtMs: exitedAtMs, exit: status, reason: 'observed_to_completion' };
  // Our own child: the status always exists (we are its parent); losing it is our failure.
  if (status.exit_source === 'unknown') return { endedAtMs: exitedAtMs, exit: status, reason: 'exit_status_lost' };
  const ok = status.exit_code === 0;
  return { endedAtMs: exitedAtMs, exit: status, reason: ok ? 'completed_successfully' : 'workload_failed_platform_ok' };
}

function asSpawnError(err: unknown): SpawnError {
  const e = err as { code?: unknown; errno?: unknown; syscall?: unknown; path?: unknown; message?: unknown };
  return {
    code: typeof e.code === 'string' ? e.code : 'UNKNOWN',
    errno: typeof e.errno === 'number' ? e.errno : 0,
    syscall: typeof e.syscall === 'string' ? e.syscall : 'spawn',
    ...(typeof e.path === 'string' ? { path: e.path } : {}),
    message: typeof e.message === 'string' ? e.message : String(err),
  };
}

/** Syscalls of installing the exit watcher (src/native/native.ts): failing them means no observer. */
const WATCHER_SYSCALLS = new Set(['epoll_create1', 'eventfd', 'pthread_create', 'epoll_ctl']);

/**
 * The command itself could not be executed (not found, not executable, bad directory): the
 * user's input, not the platform. Anything else (EAGAIN, ENOMEM, EMFILE on clone/pipe/epoll) is
 * the platform failing to do its job.
 */
function classifySpawnFailure(e: SpawnError): SlaReason {
  if (e.syscall === 'execve' || e.syscall === 'chdir') return 'workload_not_startable';
  if (WATCHER_SYSCALLS.has(e.syscall)) return 'observer_unavailable';
  return 'spawn_failed_platform';
}
