import { readFileSync } from 'node:fs';
import { detectCgroups } from '../cgroup/detect';
import { checkGovernanceInput, Governance, type GovernanceOptions } from './governance';
import type { JobRecorder } from '../journal/types';
import type { AttachedProcess, ExitObserver } from '../observer/types';
import { selectObserver } from '../observer/select';
import { freezeResult, isoMs } from '../model/build-result';
import { NoSuchProcessError, UsageError } from '../model/errors';
import { validateIntent } from '../model/intent';
import { generateJobId, validateJobId } from '../model/job-id';
import { UNKNOWN_EXIT, type Result } from '../model/result';
import { finalFields } from './run';
import { untilExitOrDetach } from './wait';

export interface AttachSpec {
  /** One or more running processes; each becomes one job with one Result. */
  pids: readonly number[];
  /** One job id per PID, in order; generated (`attach-<utc>-<hex>`) when absent. */
  jobIds?: readonly string[];
  intent?: string;
  /** Aborting detaches from every process still watched; none is ever signalled. */
  signal?: AbortSignal;
  recorder?: JobRecorder;
  observer?: ExitObserver;
  /** Called with each Result as soon as its process ends (the CLI prints one line per job). */
  onResult?: (result: Result) => void;
  /**
   * cgroup governance for every adopted process (docs/cgroups.md): each gets its own job
   * cgroup with these limits. Default: accounting only; `{ enabled: false }` for none.
   */
  governance?: GovernanceOptions;
}

/** The largest PID the kernel hands out (/proc/sys/kernel/pid_max), 4194304 if unreadable. */
export function pidMax(): number {
  try {
    return Number(readFileSync('/proc/sys/kernel/pid_max', 'latin1').trim()) || 4_194_304;
  } catch {
    return 4_194_304;
  }
}

/** Validates PIDs and job ids; throws UsageError before anything is opened. */
export function validateAttachSpec(spec: AttachSpec): { pids: number[]; jobIds: string[] } {
  if (spec.pids.length === 0) throw new UsageError('no process given: use `ffrtmp attach --pid <pid>`');
  const max = pidMax();
  const seen = new Set<number>();
  for (const pid of spec.pids) {
    if (!Number.isSafeInteger(pid) || pid < 1 || pid >= max) {
      throw new UsageError(`invalid pid ${String(pid)}: expected a whole number from 1 to ${max - 1}`);
    }
    if (pid === process.pid) throw new UsageError(`pid ${pid} is ffrtmp itself`);
    if (seen.has(pid)) throw new UsageError(`pid ${pid} is given twice`);
    seen.add(pid);
  }
  if (spec.intent !== undefined) validateIntent(spec.intent);
  let jobIds: string[];
  if (spec.jobIds === undefined || spec.jobIds.length === 0) {
    jobIds = spec.pids.map(() => generateJobId('attach'));
  } else if (spec.jobIds.length !== spec.pids.length) {
    throw new UsageError(`${spec.jobIds.length} job id(s) for ${spec.pids.length} pid(s): give one --job-id per --pid, or none`);
  } else {
    jobIds = spec.jobIds.map(validateJobId);
    if (new Set(jobIds).size !== jobIds.length) throw new UsageError('job ids must be distinct');
  }
  for (const id of jobIds) checkGovernanceInput(id, spec.governance);
  return { pids: [...spec.pids], jobIds };
}

/**
 * Adopts running processes and observes each until it exits (or until `signal` detaches us).
 * All-or-nothing on input: every PID is opened first, and if one does not exist a
 * NoSuchProcessError is thrown with nothing left open or recorded. Then one Result per PID.
 */
export async function attach(spec: AttachSpec): Promise<Result[]> {
  const { pids, jobIds } = validateAttachSpec(spec);
  const observer = spec.observer ?? selectObserver();

  const adopted: AttachedProcess[] = [];
  const startedAt: number[] = [];
  try {
    for (const pid of pids) {
      startedAt.push(Date.now());
      adopted.push(observer.attach(pid));
    }
  } catch (err) {
    for (const a of adopted) a.watch.close();
    if ((err as { code?: string }).code === 'ESRCH') throw new NoSuchProcessError(pids[adopted.length] as number);
    // Not the caller's mistake: the platform could not install the observer. Honest accounting:
    // a Result per requested job, each saying so (no process was left half-watched).
    const now = Date.now();
    const results = pids.map((pid, i) =>
      freezeResult({
        job_id: jobIds[i] as string, pid, mode: 'attach', intent: spec.intent,
        startedAtMs: startedAt[i] ?? now, endedAtMs: now, exit: UNKNOWN_EXIT, reason: 'observer_unavailable',
      }),
    );
    for (const r of results) {
      spec.recorder?.finished(r);
      spec.onResult?.(r);
    }
    return results;
  }

  // One look at the host's cgroup mounts serves every process of this call (hundreds, on an
  // edge node), instead of re-reading mountinfo per process.
  const governance: GovernanceOptions | undefined =
    spec.governance?.enabled === false || spec.governance?.env !== undefined || adopted.length < 2
      ? spec.governance
      : { ...spec.governance, env: detectCgroups() };
  return Promise.all(
    adopted.map(async (a, i) => {
      const job_id = jobIds[i] as string;
      const startedAtMs = startedAt[i] as number;
      // The pidfd is open (the observer's attach), so the PID cannot be recycled while we move it.
      const gov = Governance.create(job_id, 'attach', governance, a.pid);
      await gov.attach({ pid: a.pid, pidfd: a.pidfd >= 0 ? a.pidfd : null, ...(a.identityStartTime !== null ? { startTime: a.identityStartTime } : {}) });
      spec.recorder?.started({
        type: 'started', job_id, pid: a.pid, mode: 'attach', intent: spec.intent,
        identity: { pid: a.pid, start_time_ticks: a.identityStartTime },
        cgroup: gov.journalPath(), start_time: isoMs(startedAtMs),
      });
      const outcome = await untilExitOrDetach(a.watch, spec.signal);
      const final = finalFields(outcome, 'attach');
      const governed = await gov.finish(outcome === 'detached' ? 'detached' : 'ended');
      const result = freezeResult({
        job_id, pid: a.pid, mode: 'attach', intent: spec.intent, startedAtMs, ...final,
        reason: gov.reason(final.reason, true), ...(governed ?? {}),
      });
      spec.recorder?.finished(result);
      spec.onResult?.(result);
      return result;
    }),
  );
}
