/**
 * The glue between a job (core run/attach) and its cgroup: create before the start, place at
 * the start, account and clean up at the end, and turn what happened into the Result's
 * `usage`, `cgroup` and (when governance fell short) its reason.
 *
 * Golden rule: nothing in here may stop the workload from running. Input errors are thrown
 * by `checkGovernanceInput` BEFORE anything starts (UsageError, exit 2); after that every
 * failure, even an unexpected exception (a bug), becomes a reported problem.
 */
import { isCompliant, type SlaReason } from '../model/sla';
import type { ExitObserver, SpawnedChild, SpawnRequest } from '../observer/types';
import type { CgroupEnv } from '../cgroup/detect';
import { checkRootFlag, JobCgroup, leafNameFor, type AttachOutcome, type CgroupReport } from '../cgroup/job';
import { hasLimits, type Limits } from '../cgroup/limits';
import type { ProcessRef } from '../cgroup/procs';
import type { XattrReader } from '../cgroup/root';
import type { Usage } from '../model/cgroup-report';

export interface GovernanceOptions {
  /** Canonical limits (parseLimits). None: accounting only. */
  limits?: Limits;
  /** `--cgroup-root`. */
  cgroupRoot?: string;
  /** false: no cgroup at all (no leaf, no usage). Default true. */
  enabled?: boolean;
  /** Detection result (tests, or a caller that detected once for many jobs). */
  env?: CgroupEnv;
  getxattr?: XattrReader;
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
  leafNameFor(jobId);
  const root = effectiveRoot(opts);
  if (root !== undefined) checkRootFlag(root);
}

/** What goes into the Result. */
export interface GovernanceFields {
  usage: Usage | null;
  cgroup: CgroupReport;
}

export class Governance {
  private constructor(
    readonly job: JobCgroup | null,
    private readonly limitsRequested: boolean,
    /** Set when creating the job cgroup threw unexpectedly. */
    private readonly failure: string | null,
  ) {}

  /** Never throws except UsageError (call checkGovernanceInput first to get those early). */
  static create(jobId: string, mode: 'run' | 'attach', opts: GovernanceOptions = {}, attachPid?: number): Governance {
    const limits = opts.limits ?? {};
    if (opts.enabled === false) return new Governance(null, hasLimits(limits), null);
    const cgroupRoot = effectiveRoot(opts);
    try {
      const job = JobCgroup.create({
        jobId,
        limits,
        mode,
        ...(cgroupRoot !== undefined ? { cgroupRoot } : {}),
        ...(opts.env !== undefined ? { env: opts.env } : {}),
        ...(opts.getxattr !== undefined ? { getxattr: opts.getxattr } : {}),
        ...(attachPid !== undefined ? { attachPid } : {}),
      });
      return new Governance(job, hasLimits(limits), null);
    } catch (e) {
      if ((e as { code?: string }).code === 'ERR_USAGE') throw e;
      return new Governance(null, hasLimits(limits), `internal error while creating the job cgroup: ${(e as Error)?.message ?? String(e)}`);
    }
  }

  /**
   * Starts the workload governed: CLONE_INTO_CGROUP when the observer has the native spawn
   * and the job has exactly one v2 leaf; if the kernel refuses it (clone3 throws), once more
   * with the child writing cgroup.procs. Spawn errors propagate as they are (the caller
   * classifies them).
   */
  async spawn(observer: ExitObserver, req: Omit<SpawnRequest, 'placement'>): Promise<SpawnedChild> {
    const job = this.job;
    if (!job) return observer.spawn(req);
    let placement;
    try {
      placement = job.placementForRun({ cloneIntoCgroup: observer.backend === 'pidfd' });
    } catch (e) {
      return observer.spawn(req); // cannot happen by design; never block the start
    }
    let child: SpawnedChild;
    let paths = placement.cgroupProcsPaths;
    try {
      try {
        child = await observer.spawn({ ...req, placement: { cgroupFd: placement.cgroupFd, cgroupProcsPaths: paths } });
      } catch (e) {
        if (placement.cgroupFd < 0 || (e as { syscall?: string }).syscall !== 'clone3') throw e;
        job.notePlacementFallback(`clone3(CLONE_INTO_CGROUP) failed: ${(e as Error).message}`);
        paths = placement.fallbackProcsPaths;
        child = await observer.spawn({ ...req, placement: { cgroupFd: -1, cgroupProcsPaths: paths } });
      }
    } finally {
      placement.close();
    }
    try {
      if (placement.cgroupFd >= 0 && !child.intoCgroup && paths === placement.cgroupProcsPaths) {
        job.notePlacementFallback('the spawn did not use CLONE_INTO_CGROUP');
      }
      job.notePlacementErrors(
        child.placementFailures.map((f) => ({ index: paths.indexOf(f.path), errno: Math.abs(f.error.errno) })),
        paths,
      );
      if (child.placementFailures.length === 0) job.verifyMembership(child.pid);
    } catch {
      /* accounting only */
    }
    return child;
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

  /** The leaf the journal records (memory's, else the first). */
  journalPath(): string | null {
    const leaves = this.job?.leaves.filter((l) => l.usable || l.created) ?? [];
    return (leaves.find((l) => l.resources.includes('memory')) ?? leaves[0])?.dir ?? null;
  }

  /**
   * The job is over: read usage, then remove the leaves (ended) or leave them (detached:
   * the workload still lives there).
   */
  async finish(how: 'ended' | 'detached'): Promise<GovernanceFields | null> {
    if (!this.job) {
      if (this.failure === null) return null;
      return {
        usage: null,
        cgroup: {
          mode: 'none',
          root_source: 'default',
          leaves: [],
          placement: 'none',
          limits: [],
          problems: [{ reason: 'cgroup_unavailable', detail: this.failure, violation: this.limitsRequested }],
          warnings: [],
        },
      };
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

  /**
   * The Result's reason: a platform violation of the core (exit status lost, observer
   * unavailable) stands; otherwise a cgroup violation replaces a compliant reason. A
   * workload that never started needed no governance.
   */
  reason(base: SlaReason, started: boolean): SlaReason {
    if (!started || !isCompliant(base)) return base;
    if (this.failure !== null && this.limitsRequested) return 'cgroup_unavailable';
    return this.job?.violation() ?? base;
  }
}
