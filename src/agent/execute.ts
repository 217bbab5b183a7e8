/**
 * The wrapper path of one queue job, as a library function (the seed's `ExecuteWithWrapper`):
 * for people who already have their own Node worker and want a job governed without our agent.
 *
 *     import { executeWithWrapper } from 'ffrtmp';
 *     new Worker('transcode', async (job) => executeWithWrapper(job), { connection, maxStalledCount: 0 });
 *
 * It validates the job's data (JobDataError naming the field: nothing started), then runs it with
 * the library's run(): the limits of its `wrapper_constraints` (or `parameters.resource_limits`),
 * journaled like `ffrtmp run` (in `stateDir`, default the state dir `ffrtmp run` uses), under a
 * keeper, and resolves with its one frozen Result. It always takes the wrapper path, whatever
 * `wrapper_enabled` says: calling it is the opt-in.
 */
import type { GovernanceOptions } from '../core/governance';
import { run } from '../core/run';
import { Journal } from '../journal/journal';
import { resolveStateDir } from '../journal/state-dir';
import type { JobRecorder } from '../journal/types';
import type { Result } from '../model/result';
import type { ExitObserver } from '../observer/types';
import { agentEnvironment, parseJobData, type AgentJob } from './job';

export interface ExecuteOptions {
  /** The journal's directory. Default: as `ffrtmp run` (`$FFRTMP_STATE_DIR`, /var/lib/ffrtmp as root, ...). */
  stateDir?: string;
  /** Records the job instead of a journal in `stateDir` (tests, or a caller's own recorder). */
  recorder?: JobRecorder;
  /** Aborting detaches: the workload keeps running, the job stays open (see run()). */
  signal?: AbortSignal;
  observer?: ExitObserver;
  /** `--cgroup-root`. */
  cgroupRoot?: string;
  /** Default true (see RunSpec.keeper). */
  keeper?: boolean;
  /** The environment the job's `env` is merged over. Default: this process's, minus the agent's settings. */
  baseEnv?: NodeJS.ProcessEnv;
}

/** A BullMQ Job (or anything with the job data under `data`), or the job data itself. */
export function jobDataOf(job: unknown): unknown {
  if (typeof job === 'object' && job !== null && !('command' in job) && 'data' in job) return (job as { data: unknown }).data;
  return job;
}

/** What run() is given for a validated job (shared with the agent). */
export function governanceOf(job: AgentJob, cgroupRoot?: string): GovernanceOptions {
  return { ...(job.limits !== undefined ? { limits: job.limits } : {}), ...(cgroupRoot !== undefined ? { cgroupRoot } : {}) };
}

/**
 * Runs a queue job on the wrapper path and resolves with its Result (a non-zero exit is a Result
 * too, not an error). Throws JobDataError for bad job data, UsageError for a workdir that does not
 * exist, RefusedError when a job with the same id is running now on this node: nothing was
 * started then.
 */
export async function executeWithWrapper(job: unknown, opts: ExecuteOptions = {}): Promise<Result> {
  return runWrapperJob(parseJobData(jobDataOf(job)), opts);
}

/** The wrapper path of a job already validated (the agent's, and executeWithWrapper's). */
export function runWrapperJob(spec: AgentJob, opts: ExecuteOptions = {}): Promise<Result> {
  const recorder = opts.recorder ?? new Journal({ dir: opts.stateDir ?? resolveStateDir().dir }).recorder();
  return run({
    command: spec.command,
    args: spec.args,
    jobId: spec.id,
    ...(spec.intent !== undefined ? { intent: spec.intent } : {}),
    ...(spec.workdir !== undefined ? { workdir: spec.workdir } : {}),
    env: agentEnvironment(spec, opts.baseEnv),
    recorder,
    governance: governanceOf(spec, opts.cgroupRoot),
    ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
    ...(opts.observer !== undefined ? { observer: opts.observer } : {}),
    ...(opts.keeper !== undefined ? { keeper: opts.keeper } : {}),
  });
}
