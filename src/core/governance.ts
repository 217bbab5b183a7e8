/**
 * A job's cgroups across its life, for the core: created before the start, the workload placed
 * at the start (born inside for `run`, moved for `attach`), usage read and leaves removed at the
 * end, and what happened turned into the Result's `usage`, `cgroup` and (when governance fell
 * short) its reason.
 *
 * Golden rule: nothing in here may stop the workload from running. Input errors are thrown by
 * `checkGovernanceInput` BEFORE anything starts (UsageError, exit 2); after that every failure,
 * even an unexpected exception (a bug), becomes a reported problem.
 *
 * Touch only what was asked:
 * - `run` gets accounting leaves even without limits: the workload is ours and is born there.
 * - `attach` without limits creates nothing and moves nothing: the process stays where it is
 *   (a service's MemoryMax, a container's limit keep applying to it); the Result then has no
 *   usage (`usage: null`), honestly.
 * - `attach` with limits moves the process only into the hierarchies of the requested limits
 *   (and, for a CPU limit on v1, cpuacct for its CPU seconds), and the report names the cgroups
 *   it left.
 */
import { isCompliant, type SlaReason } from '../model/sla';
import { violationOf, type CgroupReport, type Usage } from '../model/cgroup-report';
import type { CreatedProcess, ExitObserver, SpawnedChild, SpawnRequest } from '../observer/types';
import type { CgroupEnv } from '../cgroup/detect';
import { checkLeafJobId, checkRootFlag, JobCgroup, type AttachOutcome } from '../cgroup/job';
import { hasLimits, type Limits } from '../cgroup/limits';
import type { ProcessRef } from '../cgroup/procs';
import type { XattrReader } from '../cgroup/root';
import type { StartedJournalRecord } from '../journal/types';

export interface GovernanceOptions {
  /** Canonical limits (parseLimits). None: `run` accounts only, `attach` touches nothing. */
  limits?: Limits;
  /** `--cgroup-root`. */
  cgroupRoot?: string;
  /** false: no cgroup at all (no leaf, no usage). Default true. */
  enabled?: boolean;
  /** Detection result (tests, or a caller that detected once for many jobs). */
  env?: CgroupEnv;
  getxattr?: XattrReader | null;
}

/**
 * `FFRTMP_CGROUP_ROOT` in the environment is the default for `--cgroup-root` (test suites
 * point it at a private root; operators may set it in a unit file).
 */
export function effectiveRoot(opts: GovernanceOptions): string | undefined {
  if (opts.cgroupRoot !== undefined) return opts.cgroupRoot;
  const env = process.env.FFRTMP_CGROUP_ROOT;
  return env !== undefined && env !== '' ? env : undefined;
}

/** Throws UsageError for what can be known wrong before anything starts. */
export function checkGovernanceInput(jobId: string, opts: GovernanceOptions = {}): void {
  if (opts.enabled === false) return;
  checkLeafJobId(jobId);
  const root = effectiveRoot(opts);
  if (root !== undefined) checkRootFlag(root);
}

/** What goes into the Result. */
export interface GovernanceFields {
  usage: Usage | null;
  cgroup: CgroupReport;
}

/**
 * The Result's reason: a platform violation of the core (exit status lost, observer
 * unavailable) stands; otherwise a cgroup violation of the report replaces a compliant reason.
 * A workload that never started needed no governance.
 */
export function governedReason(base: SlaReason, started: boolean, report: Pick<CgroupReport, 'problems'> | null | undefined): SlaReason {
  if (!started || !isCompliant(base) || !report) return base;
  return violationOf(report.problems) ?? base;
}

export class Governance {
  private constructor(
    readonly job: JobCgroup | null,
    private readonly limitsRequested: boolean,
    /** Set when creating the job cgroup threw unexpectedly. */
    private readonly failure: string | null,
  ) {}

  private static build(make: () => JobCgroup | null, limits: Limits): Governance {
    try {
      return new Governance(make(), hasLimits(limits), null);
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_USAGE') throw e;
      return new Governance(null, hasLimits(limits), `internal error while creating the job cgroup: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  private static common(opts: GovernanceOptions): Pick<Parameters<typeof JobCgroup.create>[0], 'cgroupRoot' | 'env' | 'getxattr'> {
    const cgroupRoot = effectiveRoot(opts);
    return {
      ...(cgroupRoot !== undefined ? { cgroupRoot } : {}),
      ...(opts.env !== undefined ? { env: opts.env } : {}),
      ...(opts.getxattr !== undefined ? { getxattr: opts.getxattr } : {}),
    };
  }

  /**
   * `run`: leaves for the limits and for accounting. Never throws except UsageError.
   * `onPlanned` hears the leaf directories before any exists (the recorder notes them).
   */
  static forRun(jobId: string, runId: string, opts: GovernanceOptions = {}, onPlanned?: (dirs: readonly string[]) => void): Governance {
    const limits = opts.limits ?? {};
    if (opts.enabled === false) return new Governance(null, hasLimits(limits), null);
    return Governance.build(() => JobCgroup.create({ jobId, runId, limits, mode: 'run', ...Governance.common(opts), ...(onPlanned ? { onPlanned } : {}) }), limits);
  }

  /** `attach`: nothing at all without limits; with limits, only their hierarchies. */
  static forAttach(jobId: string, runId: string, opts: GovernanceOptions, pid: number, onPlanned?: (dirs: readonly string[]) => void): Governance {
    const limits = opts.limits ?? {};
    if (opts.enabled === false || !hasLimits(limits)) return new Governance(null, false, null);
    return Governance.build(() => JobCgroup.create({ jobId, runId, limits, mode: 'attach', accounting: false, attachPid: pid, ...Governance.common(opts), ...(onPlanned ? { onPlanned } : {}) }), limits);
  }

  /**
   * Starts the workload governed: CLONE_INTO_CGROUP when the observer has the native spawn
   * and the job has exactly one v2 leaf; if the kernel refuses it (clone3 throws), once more
   * with the child writing cgroup.procs. Placement is settled before exec: the child is born in
   * its leaf or joins it before it execs, and a failed join comes back from the spawn itself, so
   * nothing is checked after the start (a workload that exits at once has nothing left to check:
   * on v1 an exited task shows `/`). Spawn errors propagate as they are (the caller classifies
   * them).
   */
  async spawn(observer: ExitObserver, req: Omit<SpawnRequest, 'placement'>): Promise<SpawnedChild> {
    const job = this.job;
    if (!job) return observer.spawn(req);
    let placement;
    try {
      placement = job.placementForRun({ cloneIntoCgroup: observer.backend === 'pidfd' });
    } catch {
      return observer.spawn(req); // cannot happen by design; never block the start
    }
    let paths = placement.cgroupProcsPaths;
    // The placement is known once the process exists: noted before the caller records the job
    // (onCreated), so the started record carries it.
    const onCreated = (child: CreatedProcess): void => {
      try {
        if (placement.cgroupFd >= 0 && !child.intoCgroup && paths === placement.cgroupProcsPaths) {
          job.notePlacementFallback('the spawn did not use CLONE_INTO_CGROUP');
        }
        job.notePlacementErrors(
          child.placementFailures.map((f) => ({ index: paths.indexOf(f.path), errno: Math.abs(f.error.errno) })),
          paths,
        );
      } catch {
        /* accounting only */
      }
      req.onCreated?.(child);
    };
    try {
      try {
        return await observer.spawn({ ...req, onCreated, placement: { cgroupFd: placement.cgroupFd, cgroupProcsPaths: paths } });
      } catch (e) {
        if (placement.cgroupFd < 0 || (e as { syscall?: string }).syscall !== 'clone3') throw e;
        job.notePlacementFallback(`clone3(CLONE_INTO_CGROUP) failed: ${(e as Error).message}`);
        paths = placement.fallbackProcsPaths;
        return await observer.spawn({ ...req, onCreated, placement: { cgroupFd: -1, cgroupProcsPaths: paths } });
      }
    } finally {
      placement.close();
    }
  }

  /** attach: move the adopted process in (its pidfd was opened first, by the observer). */
  async attach(ref: ProcessRef): Promise<AttachOutcome | null> {
    if (!this.job) return null;
    try {
      return await this.job.attach(ref);
    } catch (e) {
      return { status: 'failed', details: [`internal error: ${(e as Error)?.message ?? String(e)}`] };
    }
  }

  /** The leaf the journal records as the job's cgroup (memory's, else the first). */
  journalPath(): string | null {
    const leaves = this.job?.leaves.filter((l) => l.usable || l.created) ?? [];
    return (leaves.find((l) => l.resources.includes('memory')) ?? leaves[0])?.dir ?? null;
  }

  /** Every leaf of the job (for the journal: whoever records the end reads and removes them). */
  leafDirs(): string[] {
    return this.job?.leafDirs() ?? [];
  }

  /** The report as of the start (for the journal), or null when there is no cgroup at all. */
  startReport(): CgroupReport | null {
    return this.job?.report() ?? this.failureReport();
  }

  private failureReport(): CgroupReport | null {
    if (this.failure === null) return null;
    return {
      mode: 'none',
      root_source: 'default',
      leaves: [],
      placement: 'none',
      limits: [],
      problems: [{ reason: 'cgroup_unavailable', detail: this.failure, violation: this.limitsRequested }],
      warnings: [],
    };
  }

  /**
   * The job is over for this wrapper: read the usage, then remove the leaves (ended) or leave
   * them (detached: the workload still lives there, and whoever adopts the job removes them).
   */
  async finish(how: 'ended' | 'detached'): Promise<GovernanceFields | null> {
    if (!this.job) {
      const report = this.failureReport();
      return report === null ? null : { usage: null, cgroup: report };
    }
    let usage: Usage | null = null;
    try {
      usage = this.job.readUsage();
      if (how === 'ended') await this.job.remove();
      else this.job.leave();
    } catch (e) {
      this.job.warnings.push(`cleanup: ${(e as Error)?.message ?? String(e)}`);
    }
    return { usage, cgroup: this.job.report() };
  }

  /** The Result's reason (the rule of governedReason, on the live ledger). */
  reason(base: SlaReason, started: boolean): SlaReason {
    if (!started || !isCompliant(base)) return base;
    if (this.failure !== null && this.limitsRequested) return 'cgroup_unavailable';
    return this.job?.violation() ?? base;
  }
}

/**
 * The end of a job this process did not start (an adopter recording the end of a job whose
 * wrapper died or detached): read the usage of the leaves its `started` record lists, remove
 * them, and hand back the report as of its start with the removal added. Null when the job had
 * no cgroup at all. Never throws.
 */
export async function finishAdopted(started: Pick<StartedJournalRecord, 'job_id' | 'run_id' | 'mode' | 'cgroup' | 'leaves' | 'cgroup_report'>): Promise<GovernanceFields | null> {
  const dirs = started.leaves ?? (started.cgroup !== null ? [started.cgroup] : []);
  if (dirs.length === 0 && started.cgroup_report === undefined) return null;
  try {
    const job = JobCgroup.adopt({ jobId: started.job_id, runId: started.run_id, mode: started.mode, dirs });
    const usage = job.leaves.length > 0 ? job.readUsage() : null;
    const removal = await job.remove();
    const base: CgroupReport = started.cgroup_report ?? job.report();
    return { usage, cgroup: Object.freeze({ ...base, removal }) };
  } catch (e) {
    const base: CgroupReport = started.cgroup_report ?? { mode: 'none', root_source: 'default', leaves: [], placement: 'none', limits: [], problems: [], warnings: [] };
    return { usage: null, cgroup: Object.freeze({ ...base, warnings: [...base.warnings, `cleanup after adoption: ${(e as Error)?.message ?? String(e)}`] }) };
  }
}
