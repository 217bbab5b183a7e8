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
import * as path from 'node:path';
import type { CgroupReport, MovedFrom, RemovalReport, Usage } from '../model/cgroup-report';
import { isDirectory, createLeaves } from './create';
import { detectCgroups, V1_CONTROLLER, type CgroupEnv, type Resource } from './detect';
import { readUsage, removeLeaves, leaveLeaves } from './finish';
import { checkLeafJobId, checkRootFlag, leafNameFor } from './leaf-name';
import { CgroupLedger } from './ledger';
import { hasLimits, type Limits } from './limits';
import { moveInto, type AttachOutcome } from './move';
import { currentCgroupPath, membershipMismatches, notePlacementErrors, placementForRun, type RunPlacement } from './place';
import { limitResources, planLeaves } from './plan';
import { readProcCgroup, type ProcessRef } from './procs';
import { planRoots, unitOf, type RootPlan, type XattrReader } from './root';
import { leaveRootForSupervisorLeaf } from './supervisor';
import type { LeafState } from './types';

export { checkLeafJobId, checkRootFlag, leafNameFor } from './leaf-name';
export type { AttachOutcome, AttachStatus } from './move';
export type { RunPlacement } from './place';
export type { CgroupReport };

export interface CreateJobCgroupOptions {
  jobId: string;
  /** This run of the job (src/model/run-id.ts): its leaves are `<job id>.<run id>`. */
  runId: string;
  limits: Limits;
  mode: 'run' | 'attach';
  /** `--cgroup-root` (absolute). */
  cgroupRoot?: string;
  /** Detection result; detected now when absent. */
  env?: CgroupEnv;
  getxattr?: XattrReader | null;
  /**
   * Also create leaves only for usage accounting (cpuacct, memory) where no limit needs them.
   * Default true (`run`: the workload is ours and born there). `attach` passes false: a process
   * we adopt is moved only where a limit the user asked for must apply.
   */
  accounting?: boolean;
  /** attach: the process, so a memory limit at or below its current usage is refused. */
  attachPid?: number;
  /**
   * Told the leaf directories before any is created, so that a caller killed in the middle has
   * already written down every directory that may exist (the journal's claim: the sweep removes
   * them). Must not throw.
   */
  onPlanned?: (dirs: readonly string[]) => void;
}

export class JobCgroup {
  readonly leaves: LeafState[] = [];
  readonly ledger: CgroupLedger;
  readonly limitsRequested: boolean;
  placement: CgroupReport['placement'] = 'none';
  removal: RemovalReport | undefined;
  /** attach: the cgroups the process left, per hierarchy it was moved in. */
  movedFrom: MovedFrom[] = [];

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

  /** Validates the ids (throws UsageError before anything exists), then creates and limits. */
  static create(opts: CreateJobCgroupOptions): JobCgroup {
    const leafName = leafNameFor(opts.jobId, opts.runId);
    if (opts.cgroupRoot !== undefined) checkRootFlag(opts.cgroupRoot);
    const env = opts.env ?? detectCgroups();
    const plan = planRoots(env, { cgroupRoot: opts.cgroupRoot, getxattr: opts.getxattr });
    const job = new JobCgroup(opts.jobId, opts.limits, opts.mode, env, plan);
    job.warnings.push(...plan.warnings);
    if (plan.refused) {
      const governed = limitResources(opts.limits);
      job.ledger.problem(plan.refused.reason, plan.refused.detail, governed.size > 0);
      job.ledger.markNotApplied(governed, plan.refused.detail);
      return job;
    }
    if (env.mode === 'v2' && plan.v2Root !== null) {
      // v2: we may not stay in the cgroup our job cgroups go below (a delegated unit cgroup).
      const m = leaveRootForSupervisorLeaf(env, plan.v2Root);
      if ('failed' in m) job.warnings.push(`could not move out of ${m.from} into ${m.to} (${m.error}): no controller can be enabled below a cgroup that holds a process`);
    }
    const planned = planLeaves(env, plan, leafName, opts.limits, opts.accounting ?? true);
    opts.onPlanned?.(planned.leaves.map((l) => l.dir));
    job.leaves.push(...createLeaves(planned, env, job.ledger, { limits: opts.limits, ...(opts.attachPid !== undefined ? { attachPid: opts.attachPid } : {}) }));
    return job;
  }

  /**
   * The leaves of a run this process did not create (an adopter recording the end of a job whose
   * wrapper died or detached): exactly the directories the run's `started` record lists, and
   * only those that are still directories inside a cgroup mount and are named like that run's
   * leaves (`<job id>.<run id>`; the job id alone for records written before run ids). Creates
   * nothing, writes nothing; `readUsage()` and `remove()` then work as for our own job.
   */
  static adopt(opts: { jobId: string; runId: string; mode: 'run' | 'attach'; dirs: readonly string[]; env?: CgroupEnv }): JobCgroup {
    checkLeafJobId(opts.jobId);
    const env = opts.env ?? detectCgroups();
    const job = new JobCgroup(opts.jobId, {}, opts.mode, env, { source: 'default', v2Root: null, v1Rel: null, warnings: [], refused: null });
    const names = new Set([`${opts.jobId}.${opts.runId}`, opts.jobId]);
    for (const dir of new Set(opts.dirs)) {
      if (!path.isAbsolute(dir) || !names.has(path.basename(dir)) || !isDirectory(dir)) continue;
      const leaf = adoptedLeaf(env, dir);
      if (leaf !== null) job.leaves.push(leaf);
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

  /**
   * attach: move a running process in (its pidfd opened before the call), and remember which
   * cgroups it left (per hierarchy, with the systemd unit when there was one).
   */
  async attach(ref: ProcessRef): Promise<AttachOutcome> {
    this.placement = 'attach';
    const before = readProcCgroup(ref.pid);
    const usable = this.leaves.filter((l) => l.usable);
    const out = await moveInto(this.env, this.leaves, this.ledger, ref, this.limitsRequested);
    if (out.status === 'attached' || out.status === 'partial') {
      for (const leaf of usable.filter((l) => l.usable)) {
        const from = currentCgroupPath(before, leaf);
        if (from === undefined) continue;
        const unit = unitOf(from);
        this.movedFrom.push({ hierarchy: leaf.kind === 'v2' ? 'v2' : leaf.controllers.join(','), path: from, ...(unit !== undefined ? { unit } : {}) });
      }
    }
    return out;
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
    return this.leaves.filter((l) => l.usable || l.created || l.adopted).map((l) => l.dir);
  }

  /** A deep-frozen snapshot (it goes into the immutable Result). */
  report(): CgroupReport {
    return deepFreeze({
      mode: this.env.mode,
      root_source: this.plan.source,
      leaves: this.leaves.filter((l) => l.created || l.adopted).map((l) => ({ kind: l.kind, dir: l.dir, controllers: [...l.controllers], created: l.created })),
      placement: this.placement,
      ...(this.movedFrom.length > 0 ? { moved_from: [...this.movedFrom] } : {}),
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

/** A recorded leaf directory → its state, from the mount it lies in; null when it lies in none. */
function adoptedLeaf(env: CgroupEnv, dir: string): LeafState | null {
  const inside = (mount: string): boolean => dir.startsWith(mount.endsWith('/') ? mount : `${mount}/`);
  const v1 = env.v1.filter((h) => inside(h.mountPoint)).sort((a, b) => b.mountPoint.length - a.mountPoint.length)[0];
  if (v1 !== undefined) {
    const resources = (Object.keys(V1_CONTROLLER) as Resource[]).filter((r) => v1.controllers.includes(V1_CONTROLLER[r]));
    return { kind: 'v1', mountPoint: v1.mountPoint, dir, controllers: [...v1.controllers], resources, governs: false, created: false, adopted: true, usable: true };
  }
  if (env.v2 && inside(env.v2.mountPoint)) {
    return { kind: 'v2', mountPoint: env.v2.mountPoint, dir, controllers: [], resources: ['cpu', 'cpuacct', 'memory', 'io'], governs: false, created: false, adopted: true, usable: true };
  }
  return null;
}
