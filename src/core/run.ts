import { statSync } from 'node:fs';
import { checkGovernanceInput, Governance, type GovernanceOptions } from './governance';
import type { JobClaim, JobRecorder } from '../journal/types';
import type { CreatedProcess, ExitObserver, ObservedExit, SpawnedChild, SpawnRequest } from '../observer/types';
import { selectObserver } from '../observer/select';
import { readStartTime } from '../observer/procfs';
import { freezeResult, isoMs } from '../model/build-result';
import { RefusedError, UsageError } from '../model/errors';
import { newRunId } from '../model/run-id';
import { validateIntent } from '../model/intent';
import { shown } from '../model/quote';
import { generateJobId, validateJobId } from '../model/job-id';
import { UNKNOWN_EXIT, type Result, type SpawnError } from '../model/result';
import type { SlaReason } from '../model/sla';
import { DetachGate } from './wait';

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
  /**
   * Aborting detaches: the workload keeps running and the job stays open (see run()); the
   * workload is never signalled. A string abort reason (`ac.abort('SIGTERM')`) is recorded.
   */
  signal?: AbortSignal;
  /** Durable record of the job (the journal). Never throws into us. */
  recorder?: JobRecorder;
  /** Default: selectObserver(). */
  observer?: ExitObserver;
  /**
   * Start the workload under `ffrtmp-keeper`, its parent, so that its exit status survives this
   * process (docs/native.md "keeper"). Default true; it needs a recorder that keeps exit files
   * (the journal). false: the workload is our direct child (`--no-keeper`). A keeper that is
   * missing never stops the job: the workload is started directly and the Result says why.
   */
  keeper?: boolean;
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
 * Throws only UsageError (bad input) and RefusedError (the job id is running now): nothing was
 * started or created then.
 *
 * A detach is not an end: when `signal` aborts, the workload keeps running (in its cgroup, with
 * its limits), the recorder gets a `detached` record instead of a Result, and whoever adopts the
 * job later records its one Result with the real end. What `run()` resolves with then is the
 * provisional view of that moment (reason `detached_workload_continues`, exit unknown), for the
 * caller to show; it is not the job's Result.
 */
export async function run(spec: RunSpec): Promise<Result> {
  const s = validateRunSpec(spec);
  const observer = s.observer ?? selectObserver();
  const runId = newRunId();
  claimJobIds(s.recorder, [{ run_id: runId, job_id: s.jobId, mode: 'run' }]);
  const base = { job_id: s.jobId, mode: 'run' as const, intent: s.intent };
  // The leaves are noted with the claim before they exist: a wrapper killed while creating them
  // leaves nothing the sweep does not know of.
  const gov = Governance.forRun(s.jobId, runId, s.governance, (dirs) => s.recorder?.governed?.(runId, dirs));
  const keeper = keeperRequest(s, runId);
  const startedAtMs = Date.now();

  const startTime = isoMs(startedAtMs);
  // The job is made durable the moment its process exists, and under a keeper before the
  // workload's exec: no workload runs without a started record (docs/native.md "keeper").
  const recordStart = (c: CreatedProcess): void => {
    const startReport = gov.startReport();
    s.recorder?.started({
      type: 'started',
      run_id: runId,
      ...base,
      pid: c.pid,
      identity: { pid: c.pid, start_time_ticks: readStartTime(c.pid) },
      cgroup: gov.journalPath(),
      leaves: gov.leafDirs(),
      ...(startReport !== null ? { cgroup_report: startReport } : {}),
      start_time: startTime,
      ...(c.keeper.pid !== null && 'exitFile' in keeper
        ? { keeper: { pid: c.keeper.pid, start_time_ticks: readStartTime(c.keeper.pid), exit_file: keeper.exitFile } }
        : {}),
    });
  };

  let child: SpawnedChild;
  try {
    child = await gov.spawn(observer, {
      command: s.command,
      args: s.args,
      cwd: s.workdir ?? null,
      env: s.env ?? process.env,
      keeper,
      onCreated: recordStart,
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
    s.recorder?.finished(result, runId);
    return result;
  }

  const gate = new DetachGate(s.signal);
  const outcome = await gate.wait(child.watch);
  gate.dispose();
  const final = finalFields(outcome, 'run');
  const governed = await gov.finish(outcome === 'detached' ? 'detached' : 'ended');
  const keeperProblem = outcome !== 'detached' ? outcome.keeperProblem : undefined;
  const result = freezeResult({
    ...base,
    pid: child.pid,
    startedAtMs,
    ...final,
    reason: gov.reason(final.reason, true),
    ...(governed ?? {}),
    keeper: keeperProblem !== undefined ? { ...child.keeper, problem: keeperProblem } : child.keeper,
  });
  if (outcome === 'detached') {
    s.recorder?.detached?.({ type: 'detached', run_id: runId, job_id: s.jobId, mode: 'run', pid: child.pid, start_time: startTime, detached_at: result.end_time, ...whyField(gate) });
  } else {
    s.recorder?.finished(result, runId);
  }
  return result;
}

/** What the observer is asked for: a keeper and its exit file, or why none. */
function keeperRequest(s: RunSpec & { jobId: string }, runId: string): NonNullable<SpawnRequest['keeper']> {
  if (s.keeper === false) return { why: 'not wanted (--no-keeper, or keeper: false)' };
  if (s.recorder?.exitFileFor === undefined) return { why: 'no journal to keep its exit file in' };
  const exitFile = s.recorder.exitFileFor(runId);
  if (exitFile === undefined) return { why: 'the state dir cannot hold its exit file' };
  return { jobId: s.jobId, exitFile };
}

/** `why` for a detached record, when the caller said (the CLI aborts with the signal's name). */
export function whyField(gate: DetachGate): { why?: string } {
  const why = gate.reason();
  return why !== undefined ? { why } : {};
}

/**
 * Claims the job ids of these runs from the recorder (the node's open jobs, when it keeps them).
 * Throws RefusedError naming the running job that holds one: nothing was claimed or created.
 */
export function claimJobIds(recorder: JobRecorder | undefined, jobs: readonly JobClaim[]): void {
  const holders = recorder?.claim?.(jobs) ?? [];
  const h = holders[0];
  if (h === undefined) return;
  const who = h.identity !== null ? `pid ${h.identity.pid}` : 'being started';
  const owner = h.detached ? 'detached from its wrapper (the next `ffrtmp recover` adopts it)' : `watched by ffrtmp pid ${h.wrapper.pid}`;
  throw new RefusedError(`job id ${h.job_id} is running now (${who}, ${owner}): choose another --job-id`, 'job_id');
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
