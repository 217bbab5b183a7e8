/**
 * One job's cgroups, across its phases. This class only holds the job's state and hands it to
 * the phase that acts (each phase is its own module):
 *
 *   plan.ts    which hierarchies and leaf directories (pure)
 *   create.ts  the parent chain, v2 controllers, the leaf, every limit written and read back
 *   place.ts   run: how the child is born inside (CLONE_INTO_CGROUP or cgroup.procs before exec)
 *   move.ts    attach: move a running process in, verified through its pidfd
 *   finish.ts  usage, then removal (or leaving the leaves to a workload that lives on)
 *   ledger.ts  what went wrong and what was written: the Result's `cgroup` report and reason
 *
 * Degrade, never block: nothing here throws except input validation (UsageError, before anything
 * is created).
 */
import type { CgroupReport, RemovalReport, Usage } from '../model/cgroup-report';
import { isDirectory, createLeaves } from './create';
import { detectCgroups, resourceHome, type CgroupEnv, type Resource } from './detect';
import { readUsage, removeLeaves, leaveLeaves } from './finish';
import { checkRootFlag, leafNameFor } from './leaf-name';
import { CgroupLedger } from './ledger';
import { hasLimits, type Limits } from './limits';
import { moveInto, type AttachOutcome } from './move';
import { membershipMismatches, notePlacementErrors, placementForRun, type RunPlacement } from './place';
import { leafDir, limitResources, planLeaves } from './plan';
import type { ProcessRef } from './procs';
import { planRoots, type RootPlan, type XattrReader } from './root';
import type { LeafState } from './types';

export { checkRootFlag, leafNameFor } from './leaf-name';
export type { AttachOutcome, AttachStatus } from './move';
export type { RunPlacement } from './place';
export type { CgroupReport };

export interface CreateJobCgroupOptions {
  jobId: string;
  limits: Limits;
  mode: 'run' | 'attach';
  /** `--cgroup-root` (absolute). */
  cgroupRoot?: string;
  /** Detection result; detected now when absent. */
  env?: CgroupEnv;
  getxattr?: XattrReader;
  /** Create leaves for usage accounting even with no limits. Default true. */
  accounting?: boolean;
  /** attach: the process, so a memory limit at or below its current usage is refused. */
  attachPid?: number;
}

export class JobCgroup {
  readonly leaves: LeafState[] = [];
  readonly ledger: CgroupLedger;
  readonly limitsRequested: boolean;
  placement: CgroupReport['placement'] = 'none';
  removal: RemovalReport | undefined;

  private constructor(
    readonly jobId: string,
    readonly limits: Limits,
    readonly mode: 'run' | 'attach',
    readonly env: CgroupEnv,
    readonly plan: RootPlan,
  ) {
    this.ledger = new CgroupLedger(limits);
    this.limitsRequested = hasLimits(limits);
  }

  get problems(): CgroupLedger['problems'] {
    return this.ledger.problems;
  }

  get warnings(): CgroupLedger['warnings'] {
    return this.ledger.warnings;
  }

  get limitEntries(): CgroupLedger['limitEntries'] {
    return this.ledger.limitEntries;
  }

  private static prepare(opts: { jobId: string; mode: 'run' | 'attach'; limits: Limits; cgroupRoot?: string; env?: CgroupEnv; getxattr?: XattrReader }): { job: JobCgroup; leafName: string } {
    const leafName = leafNameFor(opts.jobId);
    if (opts.cgroupRoot !== undefined) checkRootFlag(opts.cgroupRoot);
    const env = opts.env ?? detectCgroups();
    const plan = planRoots(env, { cgroupRoot: opts.cgroupRoot, getxattr: opts.getxattr });
    return { job: new JobCgroup(opts.jobId, opts.limits, opts.mode, env, plan), leafName };
  }

  /** Validates the id (throws UsageError before anything exists), then creates and limits. */
  static create(opts: CreateJobCgroupOptions): JobCgroup {
    const { job, leafName } = JobCgroup.prepare(opts);
    job.warnings.push(...job.plan.warnings);
    if (job.plan.refused) {
      const governed = limitResources(opts.limits);
      job.ledger.problem(job.plan.refused.reason, job.plan.refused.detail, governed.size > 0);
      job.ledger.markNotApplied(governed, job.plan.refused.detail);
      return job;
    }
    const planned = planLeaves(job.env, job.plan, leafName, opts.limits, opts.accounting ?? true);
    job.leaves.push(...createLeaves(planned, job.env, job.ledger, { limits: opts.limits, jobId: opts.jobId, ...(opts.attachPid !== undefined ? { attachPid: opts.attachPid } : {}) }));
    return job;
  }

  /**
   * The job cgroup of a job this process did not create (recover/serve adopting an orphan
   * from the journal): finds the existing leaves for `jobId` under the same roots, creates
   * nothing, writes nothing. `readUsage()` and `remove()` then work as for our own job.
   */
  static open(opts: { jobId: string; mode: 'run' | 'attach'; cgroupRoot?: string; env?: CgroupEnv; getxattr?: XattrReader }): JobCgroup {
    const { job, leafName } = JobCgroup.prepare({ ...opts, limits: {} });
    if (job.plan.refused) return job;
    for (const r of ['cpu', 'cpuacct', 'memory', 'io'] as Resource[]) {
      const home = resourceHome(job.env, r);
      if (home.kind === 'none') continue;
      const dir = leafDir(job.plan, home, leafName);
      const existing = job.leaves.find((l) => l.dir === dir);
      if (existing) {
        (existing.resources as Resource[]).push(r);
        continue;
      }
      if (!isDirectory(dir)) continue;
      job.leaves.push({ kind: home.kind, mountPoint: home.hierarchy.mountPoint, dir, controllers: home.kind === 'v1' ? [...home.hierarchy.controllers] : [], resources: [r], governs: false, created: false, reused: true, usable: true });
    }
    return job;
  }

  /** run: how the child is born governed. Call `close()` after spawn. */
  placementForRun(opts: { cloneIntoCgroup: boolean }): RunPlacement {
    const p = placementForRun(this.leaves, this.ledger, opts);
    this.placement = p.how;
    return p;
  }

  /** The native spawn fell back from CLONE_INTO_CGROUP to procs writes. */
  notePlacementFallback(why: string): void {
    this.placement = 'cgroup_procs';
    this.warnings.push(`CLONE_INTO_CGROUP not used: ${why}`);
  }

  /** Failed `cgroup.procs` writes the child reported (NativeSpawnResult.placementErrors). */
  notePlacementErrors(errors: readonly { index: number; errno: number }[], paths: readonly string[]): void {
    notePlacementErrors(this.leaves, this.ledger, errors, paths);
  }

  /**
   * Does /proc/<pid>/cgroup show the job's leaf in each hierarchy? Returns the mismatches
   * (empty = all in place). Records a placement problem for each.
   */
  verifyMembership(pid: number, record = true): string[] {
    const bad = membershipMismatches(this.env, this.leaves, pid);
    if (record) for (const m of bad) this.ledger.trouble(m.leaf.governs, 'cgroup_placement_failed', m.detail, m.leaf.dir);
    return bad.map((m) => m.detail);
  }

  /** attach: move a running process in (its pidfd opened before the call). */
  attach(ref: ProcessRef): Promise<AttachOutcome> {
    this.placement = 'attach';
    return moveInto(this.env, this.leaves, this.ledger, ref, this.limitsRequested);
  }

  /** CPU seconds, peak memory, OOM kills: read before the leaves are removed. */
  readUsage(): Usage {
    return readUsage(this.leaves, this.mode);
  }

  /** The job ended: remove every leaf we created or reused (see finish.ts). */
  async remove(opts: { attempts?: number; delayMs?: number } = {}): Promise<RemovalReport> {
    this.removal = await removeLeaves(this.leaves, opts);
    return this.removal;
  }

  /** Detach: the workload lives on in its cgroup, so the leaves stay. */
  leave(): RemovalReport {
    this.removal = leaveLeaves(this.leaves);
    return this.removal;
  }

  /** The violation to put in the Result, or null (also null when nothing was requested). */
  violation(): ReturnType<CgroupLedger['violation']> {
    return this.ledger.violation();
  }

  /** The leaf directories that exist for this job (for the journal). */
  leafDirs(): string[] {
    return this.leaves.filter((l) => l.usable || l.created || l.reused).map((l) => l.dir);
  }

  /** A deep-frozen snapshot (it goes into the immutable Result). */
  report(): CgroupReport {
    return deepFreeze({
      mode: this.env.mode,
      root_source: this.plan.source,
      leaves: this.leaves.filter((l) => l.created || l.reused).map((l) => ({ kind: l.kind, dir: l.dir, controllers: [...l.controllers], created: l.created, reused: l.reused })),
      placement: this.placement,
      limits: [...this.limitEntries],
      problems: [...this.problems],
      warnings: [...this.warnings],
      ...(this.removal ? { removal: this.removal } : {}),
    });
  }
}

function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object' && !Object.isFrozen(o)) {
    for (const v of Object.values(o as object)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
