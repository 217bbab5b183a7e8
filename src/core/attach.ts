import { readFileSync } from 'node:fs';
import { detectCgroups, type CgroupEnv } from '../cgroup/detect';
import { jobCgroupOf } from '../cgroup/governed';
import { hasLimits } from '../cgroup/limits';
import { planRoots } from '../cgroup/root';
import type { JobRecorder, OpenJob, StartedRecord } from '../journal/types';
import { freezeResult, isoMs } from '../model/build-result';
import { NoSuchProcessError, RefusedError, UsageError } from '../model/errors';
import { validateIntent } from '../model/intent';
import { generateJobId, validateJobId } from '../model/job-id';
import { UNKNOWN_EXIT, type Result } from '../model/result';
import { newRunId } from '../model/run-id';
import { PF_KTHREAD, readProcStat, type ProcStat } from '../observer/procfs';
import { selectObserver } from '../observer/select';
import type { AttachedProcess, ExitObserver } from '../observer/types';
import { checkGovernanceInput, effectiveRoot, Governance, type GovernanceOptions } from './governance';
import { claimJobIds, finalFields, whyField } from './run';
import { DetachGate } from './wait';

export interface AttachSpec {
  /** One or more running processes; each becomes one job with one Result. */
  pids: readonly number[];
  /** One job id per PID, in order; generated (`attach-<utc>-<hex>`) when absent. */
  jobIds?: readonly string[];
  intent?: string;
  /**
   * Aborting detaches from every process still watched: none is ever signalled, each job stays
   * open (a `detached` record, not a Result) until someone adopts it. A string abort reason is
   * recorded.
   */
  signal?: AbortSignal;
  recorder?: JobRecorder;
  observer?: ExitObserver;
  /** Called with each Result as soon as its process ends (the CLI prints one line per job). */
  onResult?: (result: Result) => void;
  /** Called with the provisional Result of each process detached from (the CLI prints its line). */
  onDetached?: (provisional: Result) => void;
  /**
   * Called once per process when it is adopted (moved, when limits were asked for) and watched,
   * with what its `started` record says: the CLI tells the user once which cgroups the processes
   * left.
   */
  onStarted?: (started: StartedRecord) => void;
  /**
   * cgroup governance (docs/cgroups.md). Without limits nothing is created or moved: the process
   * stays in its own cgroups and is only observed. With limits each process is moved into a job
   * cgroup of its own, only in the hierarchies of those limits.
   */
  governance?: GovernanceOptions;
  /**
   * The identity each PID is expected to have (start time in clock ticks, field 22 of
   * /proc/<pid>/stat), in order, as the caller saw it when it chose the process (`ffrtmp watch`
   * inspects a process before it attaches it). A process whose start time differs once its pidfd
   * is open is not the one chosen (its PID was reused): NoSuchProcessError, nothing touched.
   */
  startTimes?: readonly string[];
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

/** /proc/<pid>/stat of each target, read once for every check (null: gone, or hidden from us). */
function readStats(pids: readonly number[]): Map<number, ProcStat | null> {
  return new Map(pids.map((pid) => [pid, readProcStat(pid)]));
}

/**
 * This process and every ancestor up to (not including) PID 1, by pid → start time. Kept while our
 * parent is the same process (a long-running caller, `ffrtmp watch`, attaches thousands): an
 * ancestor that dies leaves the chain only shorter, and a pid it frees is told apart by its start
 * time.
 */
let ancestry: { ppid: number; chain: Map<number, string> } | null = null;

function selfAndAncestors(): Map<number, string> {
  const ppid = process.ppid;
  if (ancestry !== null && ancestry.ppid === ppid) return ancestry.chain;
  const chain = new Map<number, string>();
  for (let pid = process.pid, hops = 0; pid > 1 && hops < 4096; hops++) {
    const st = readProcStat(pid);
    if (st === null) break;
    chain.set(pid, st.startTimeTicks);
    pid = st.ppid;
  }
  ancestry = { ppid, chain };
  return chain;
}

/**
 * Targets ffrtmp never governs, refused before anything is touched: PID 1, kernel threads,
 * ffrtmp itself and its ancestors (moving those would put the wrapper's own caller under a
 * limit, or take init out of its cgroup, and nothing undoes it once the wrapper is gone).
 */
export function refuseTargets(pids: readonly number[], stats: ReadonlyMap<number, ProcStat | null> = readStats(pids)): void {
  const mine = selfAndAncestors();
  for (const pid of pids) {
    if (pid === 1) throw new RefusedError('pid 1 is init: ffrtmp never governs it', 'target');
    const st = stats.get(pid) ?? null;
    if (pid === process.pid) throw new RefusedError(`pid ${pid} is ffrtmp itself: ffrtmp never governs it`, 'target');
    if (mine.has(pid) && (st === null || mine.get(pid) === st.startTimeTicks)) {
      throw new RefusedError(`pid ${pid} is an ancestor of this ffrtmp (what started it: a shell, a service): ffrtmp never governs it`, 'target');
    }
    if (st !== null && (pid === 2 || st.ppid === 2 || (st.flags & PF_KTHREAD) !== 0)) {
      throw new RefusedError(`pid ${pid} is a kernel thread: it cannot be governed`, 'target');
    }
  }
}

/**
 * Processes already governed by a live ffrtmp job, refused: one recorded as open in this state
 * directory (same pid AND start time), or one sitting in a job cgroup under our root (a job of
 * another state directory). Nothing is touched.
 */
function refuseGoverned(pids: readonly number[], stats: ReadonlyMap<number, ProcStat | null>, recorder: JobRecorder | undefined, governance: GovernanceOptions | undefined, env: () => CgroupEnv): void {
  // One lookup per process where the recorder has the identity index; else every open job, once.
  let byIdentity: Map<string, OpenJob> | undefined;
  const ownerOf = (pid: number, ticks: string): OpenJob | undefined => {
    if (recorder?.openJobOf) return recorder.openJobOf({ pid, start_time_ticks: ticks }) ?? undefined;
    if (byIdentity === undefined) {
      byIdentity = new Map();
      for (const j of recorder?.openJobs?.() ?? []) if (j.identity?.start_time_ticks) byIdentity.set(`${j.identity.pid}:${j.identity.start_time_ticks}`, j);
    }
    return byIdentity.get(`${pid}:${ticks}`);
  };
  const plan = governance?.enabled === false ? null : planRoots(env(), { cgroupRoot: effectiveRoot(governance ?? {}) });
  for (const pid of pids) {
    const ticks = stats.get(pid)?.startTimeTicks;
    const job = ticks ? ownerOf(pid, ticks) : undefined;
    if (job !== undefined) {
      const owner = job.detached ? 'detached from its wrapper (the next `ffrtmp recover` adopts it)' : `watched by ffrtmp pid ${job.wrapper.pid}`;
      throw new RefusedError(`process ${pid} is already governed by job ${job.job_id} (${owner})`, 'target');
    }
    const dir = plan === null ? null : jobCgroupOf(pid, env(), plan);
    if (dir !== null) throw new RefusedError(`process ${pid} is already governed by an ffrtmp job: it is in the job cgroup ${dir}`, 'target');
  }
}

/**
 * Adopts running processes and observes each until it exits (or until `signal` detaches us).
 * All-or-nothing on input: every PID is checked and opened first; if one is refused or does not
 * exist, RefusedError / NoSuchProcessError is thrown with nothing moved, left open or recorded.
 * Then one Result per PID (or, on a detach, a `detached` record: the job stays open).
 */
export async function attach(spec: AttachSpec): Promise<Result[]> {
  const { pids, jobIds } = validateAttachSpec(spec);
  const stats = readStats(pids);
  refuseTargets(pids, stats);
  // One look at the host's cgroup mounts serves every process of this call (hundreds, on an edge
  // node), and only when something needs it.
  let env: CgroupEnv | undefined = spec.governance?.env;
  const cgroupEnv = (): CgroupEnv => (env ??= detectCgroups());
  refuseGoverned(pids, stats, spec.recorder, spec.governance, cgroupEnv);
  const observer = spec.observer ?? selectObserver();
  const runIds = pids.map(() => newRunId());
  claimJobIds(spec.recorder, pids.map((_, i) => ({ run_id: runIds[i]!, job_id: jobIds[i]!, mode: 'attach' })));
  // The processes too, race-free: two attaches of one process at the same instant (a watch daemon
  // and a person) cannot both pass the check above; exactly one claim wins.
  for (const [i, pid] of pids.entries()) {
    const ticks = stats.get(pid)?.startTimeTicks;
    const holder = ticks ? spec.recorder?.claimProcess?.(runIds[i]!, { pid, start_time_ticks: ticks }) : null;
    if (holder) {
      spec.recorder?.release?.(runIds);
      const owner = holder.detached ? 'detached from its wrapper (the next `ffrtmp recover` adopts it)' : `watched by ffrtmp pid ${holder.wrapper.pid}`;
      throw new RefusedError(`process ${pid} is already governed by job ${holder.job_id} (${owner})`, 'target');
    }
  }

  const adopted: AttachedProcess[] = [];
  const startedAt: number[] = [];
  let current = 0;
  try {
    for (const [i, pid] of pids.entries()) {
      current = i;
      startedAt.push(Date.now());
      const a = observer.attach(pid);
      adopted.push(a);
      const expected = spec.startTimes?.[i];
      if (expected !== undefined && a.identityStartTime !== expected) throw Object.assign(new Error(`pid ${pid} was reused`), { code: 'ESRCH' });
    }
  } catch (err) {
    for (const a of adopted) a.watch.close();
    if ((err as { code?: string }).code === 'ESRCH') {
      spec.recorder?.release?.(runIds);
      throw new NoSuchProcessError(pids[current] as number);
    }
    // Not the caller's mistake: the platform could not install the observer. Honest accounting:
    // a Result per requested job, each saying so (no process was left half-watched).
    const now = Date.now();
    const results = pids.map((pid, i) =>
      freezeResult({
        job_id: jobIds[i] as string, pid, mode: 'attach', intent: spec.intent,
        startedAtMs: startedAt[i] ?? now, endedAtMs: now, exit: UNKNOWN_EXIT, reason: 'observer_unavailable',
      }),
    );
    results.forEach((r, i) => {
      spec.recorder?.finished(r, runIds[i]!);
      spec.onResult?.(r);
    });
    return results;
  }

  const governance: GovernanceOptions = { ...spec.governance, ...(hasLimits(spec.governance?.limits ?? {}) ? { env: cgroupEnv() } : {}) };
  const gate = new DetachGate(spec.signal);
  try {
    return await Promise.all(adopted.map((a, i) => observeOne(spec, a, jobIds[i]!, runIds[i]!, startedAt[i]!, governance, gate)));
  } finally {
    gate.dispose();
  }
}

async function observeOne(spec: AttachSpec, a: AttachedProcess, job_id: string, runId: string, startedAtMs: number, governance: GovernanceOptions, gate: DetachGate): Promise<Result> {
  // The pidfd is open (the observer's attach), so the PID cannot be recycled while we move it.
  const gov = Governance.forAttach(job_id, runId, governance, a.pid, (dirs) => spec.recorder?.governed?.(runId, dirs));
  await gov.attach({ pid: a.pid, pidfd: a.pidfd >= 0 ? a.pidfd : null, ...(a.identityStartTime !== null ? { startTime: a.identityStartTime } : {}) });
  const startTime = isoMs(startedAtMs);
  const startReport = gov.startReport();
  const started: StartedRecord = {
    type: 'started', run_id: runId, job_id, pid: a.pid, mode: 'attach', intent: spec.intent,
    identity: { pid: a.pid, start_time_ticks: a.identityStartTime },
    cgroup: gov.journalPath(),
    leaves: gov.leafDirs(),
    ...(startReport !== null ? { cgroup_report: startReport } : {}),
    start_time: startTime,
  };
  spec.recorder?.started(started);
  spec.onStarted?.(started);
  const outcome = await gate.wait(a.watch);
  const final = finalFields(outcome, 'attach');
  const governed = await gov.finish(outcome === 'detached' ? 'detached' : 'ended');
  const result = freezeResult({
    job_id, pid: a.pid, mode: 'attach', intent: spec.intent, startedAtMs, ...final,
    reason: gov.reason(final.reason, true), ...(governed ?? {}),
  });
  if (outcome === 'detached') {
    spec.recorder?.detached?.({ type: 'detached', run_id: runId, job_id, mode: 'attach', pid: a.pid, start_time: startTime, detached_at: result.end_time, ...whyField(gate) });
    spec.onDetached?.(result);
  } else {
    spec.recorder?.finished(result, runId);
    spec.onResult?.(result);
  }
  return result;
}
