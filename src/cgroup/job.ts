/**
 * One job's cgroup(s): create, limit, place, account, remove. Degrade, never block: every
 * method records what went wrong and returns; nothing here throws except input validation
 * (UsageError, before anything is created).
 *
 * A job has one leaf per hierarchy it uses:
 * - pure v2: one leaf `<root>/<job id>`;
 * - v1 / hybrid: one leaf per v1 hierarchy that provides a resource we need
 *   (`cpu` for cpu limits, `cpuacct` for CPU seconds, `memory`, `blkio` for io), co-mounted
 *   hierarchies (`cpu,cpuacct`) sharing one.
 * Leaves that carry a requested limit "govern": trouble there is an SLA violation. Leaves
 * that only account (CPU seconds, peak memory, OOM kills) are best effort: no limits
 * requested and no cgroup possible is not a violation.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CGROUP_REASON_PRIORITY, type CgroupProblem, type CgroupReason, type CgroupReport, type LimitReportEntry, type RemovalReport, type Usage } from '../model/cgroup-report';
import { UsageError } from '../model/errors';
import { validateJobId } from '../model/job-id';
import { detectCgroups, resourceHome, V2_CONTROLLER, type CgroupEnv, type Resource } from './detect';
import { errMessage, errnoCode, readPids, readTextOrNull, sleep, writeOnce } from './fsutil';
import { hasLimits, type Limits } from './limits';
import { planRoots, type RootPlan, type XattrReader } from './root';
import type { LeafState } from './types';
import { applyV1Cpu, applyV1Io, applyV1Memory, readV1CpuSeconds, readV1Memory } from './v1';
import { applyV2Limits, enableController, readV2Usage } from './v2';
import { notApplied } from './write';
import { isGone, processMemoryBytes, readProcCgroup, type ProcessRef } from './procs';

/** Names the kernel uses for interface files: a job leaf must never be called like one. */
const RESERVED_LEAF = /^((cgroup|cpu|cpuacct|cpuset|memory|io|blkio|pids|hugetlb|rdma|misc|devices|freezer|net_cls|net_prio|perf_event)\..*|notify_on_release|release_agent|tasks)$/;

/** Job id → leaf directory name. Throws UsageError (nothing created). */
export function leafNameFor(jobId: string): string {
  validateJobId(jobId);
  if (RESERVED_LEAF.test(jobId)) {
    throw new UsageError(`job id ${JSON.stringify(jobId)} looks like a cgroup interface file name (cgroup.*, cpu.*, memory.*, tasks, ...) and cannot name a job cgroup`);
  }
  return jobId;
}

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

export interface RunPlacement {
  /** O_RDONLY|O_DIRECTORY fd of the v2 leaf for clone3(CLONE_INTO_CGROUP), or -1. Close with `close()`. */
  readonly cgroupFd: number;
  /** cgroup.procs files the child writes its PID into before exec. */
  readonly cgroupProcsPaths: readonly string[];
  /** When `cgroupFd` is used and the kernel refuses CLONE_INTO_CGROUP: the procs paths to fall back to. */
  readonly fallbackProcsPaths: readonly string[];
  close(): void;
}

export type AttachStatus = 'attached' | 'partial' | 'exited' | 'failed' | 'not_needed';

export interface AttachOutcome {
  readonly status: AttachStatus;
  readonly details: readonly string[];
}

export type { CgroupReport };

export class JobCgroup {
  readonly leaves: LeafState[] = [];
  readonly limitEntries: LimitReportEntry[] = [];
  readonly problems: CgroupProblem[] = [];
  readonly warnings: string[] = [];
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
    this.limitsRequested = hasLimits(limits);
  }

  /** Validates the id (throws UsageError before anything exists), then creates and limits. */
  static create(opts: CreateJobCgroupOptions): JobCgroup {
    const leafName = leafNameFor(opts.jobId);
    if (opts.cgroupRoot !== undefined) checkRootFlag(opts.cgroupRoot);
    const env = opts.env ?? detectCgroups();
    const plan = planRoots(env, { cgroupRoot: opts.cgroupRoot, getxattr: opts.getxattr });
    const job = new JobCgroup(opts.jobId, opts.limits, opts.mode, env, plan);
    job.warnings.push(...plan.warnings);
    job.build(leafName, opts);
    return job;
  }

  /**
   * The job cgroup of a job this process did not create (recover/serve adopting an orphan
   * from the journal): finds the existing leaves for `jobId` under the same roots, creates
   * nothing, writes nothing. `readUsage()` and `remove()` then work as for our own job.
   */
  static open(opts: { jobId: string; mode: 'run' | 'attach'; cgroupRoot?: string; env?: CgroupEnv; getxattr?: XattrReader }): JobCgroup {
    const leafName = leafNameFor(opts.jobId);
    if (opts.cgroupRoot !== undefined) checkRootFlag(opts.cgroupRoot);
    const env = opts.env ?? detectCgroups();
    const plan = planRoots(env, { cgroupRoot: opts.cgroupRoot, getxattr: opts.getxattr });
    const job = new JobCgroup(opts.jobId, {}, opts.mode, env, plan);
    if (plan.refused) return job;
    const seen = new Set<string>();
    for (const r of ['cpu', 'cpuacct', 'memory', 'io'] as Resource[]) {
      const home = resourceHome(env, r);
      if (home.kind === 'none') continue;
      const mountPoint = home.hierarchy.mountPoint;
      const dir = home.kind === 'v2' ? path.join(plan.v2Root ?? path.join(mountPoint, 'ffrtmp'), leafName) : path.join(mountPoint, plan.v1Rel ?? 'ffrtmp', leafName);
      const existing = job.leaves.find((l) => l.dir === dir);
      if (existing) {
        (existing.resources as Resource[]).push(r);
        continue;
      }
      if (seen.has(dir)) continue;
      seen.add(dir);
      let isDir = false;
      try {
        isDir = fs.lstatSync(dir).isDirectory();
      } catch {
        isDir = false;
      }
      if (!isDir) continue;
      job.leaves.push({ kind: home.kind, mountPoint, dir, controllers: home.kind === 'v1' ? [...home.hierarchy.controllers] : [], resources: [r], governs: false, created: false, reused: true, usable: true });
    }
    return job;
  }

  private problem(reason: CgroupReason, detail: string, violation: boolean, file?: string): void {
    this.problems.push({ reason, detail, violation, ...(file !== undefined ? { file } : {}) });
  }

  /** The resources a requested limit needs. */
  private limitResources(): Set<Resource> {
    const s = new Set<Resource>();
    if (this.limits.cpuMax || this.limits.cpuWeight !== undefined) s.add('cpu');
    if (this.limits.memoryMax !== undefined) s.add('memory');
    if ((this.limits.io?.length ?? 0) > 0) s.add('io');
    return s;
  }

  /** Report entries for every requested limit of `resources`, none of them applied. */
  private markNotApplied(resources: Iterable<Resource>, why: string): void {
    const rs = new Set(resources);
    const l = this.limits;
    if (rs.has('cpu') && l.cpuMax) this.limitEntries.push(notApplied('cpu.max', 'cpu.max', `${l.cpuMax.quotaUs ?? 'max'} ${l.cpuMax.periodUs}`, why));
    if (rs.has('cpu') && l.cpuWeight !== undefined) this.limitEntries.push(notApplied('cpu.weight', 'cpu.weight', String(l.cpuWeight), why));
    if (rs.has('memory') && l.memoryMax !== undefined) this.limitEntries.push(notApplied('memory.max', 'memory.max', String(l.memoryMax), why));
    if (rs.has('io')) for (const d of l.io ?? []) this.limitEntries.push(notApplied('io.max', 'io.max', d.device, why));
  }

  private build(leafName: string, opts: CreateJobCgroupOptions): void {
    const limitRes = this.limitResources();
    const accounting = opts.accounting ?? true;
    const wanted = new Set<Resource>(limitRes);
    if (accounting) {
      wanted.add('cpuacct');
      wanted.add('memory');
    }
    if (this.plan.refused) {
      this.problem(this.plan.refused.reason, this.plan.refused.detail, limitRes.size > 0);
      this.markNotApplied(limitRes, this.plan.refused.detail);
      return;
    }

    // Group the resources by the hierarchy that provides them.
    const groups = new Map<string, { kind: 'v2' | 'v1'; mountPoint: string; dir: string; controllers: string[]; resources: Resource[] }>();
    for (const r of wanted) {
      const home = resourceHome(this.env, r);
      if (home.kind === 'none') {
        if (limitRes.has(r)) {
          const detail = `no cgroup hierarchy here provides the ${r === 'io' ? 'io/blkio' : r} controller`;
          this.problem(this.env.mode === 'none' ? 'cgroup_unavailable' : 'limit_not_applied', detail, true);
          this.markNotApplied([r], detail);
        } else {
          this.warnings.push(`no ${r} accounting: no hierarchy provides it`);
        }
        continue;
      }
      const mountPoint = home.hierarchy.mountPoint;
      let g = groups.get(mountPoint);
      if (!g) {
        const dir =
          home.kind === 'v2' ? path.join(this.plan.v2Root ?? path.join(mountPoint, 'ffrtmp'), leafName) : path.join(mountPoint, this.plan.v1Rel ?? 'ffrtmp', leafName);
        g = { kind: home.kind, mountPoint, dir, controllers: home.kind === 'v1' ? [...home.hierarchy.controllers] : [], resources: [] };
        groups.set(mountPoint, g);
      }
      g.resources.push(r);
      if (home.kind === 'v2' && home.controller !== null && !g.controllers.includes(home.controller)) g.controllers.push(home.controller);
    }

    for (const g of groups.values()) {
      const leaf: LeafState = {
        kind: g.kind,
        mountPoint: g.mountPoint,
        dir: g.dir,
        controllers: g.controllers,
        resources: g.resources,
        governs: g.resources.some((r) => limitRes.has(r)),
        created: false,
        reused: false,
        usable: false,
      };
      this.leaves.push(leaf);
      const governed = g.resources.filter((r) => limitRes.has(r));
      const root = path.dirname(g.dir);
      // 1. The parent (root) directory, created below the mount as needed. Roots are shared by
      //    all jobs, so they are never removed.
      try {
        mkdirChain(g.mountPoint, root);
      } catch (e) {
        this.creationFailed(leaf, governed, root, e);
        continue;
      }
      // 2. v2: controllers along the chain, down to the root (never the leaf).
      const disabled = new Set<Resource>();
      if (g.kind === 'v2') {
        for (const r of g.resources) {
          const c = V2_CONTROLLER[r];
          if (c === null) continue;
          const out = enableController(g.mountPoint, root, c, this.env.systemd);
          if (out.ok) continue;
          disabled.add(r);
          const gov = limitRes.has(r);
          const reason: CgroupReason =
            out.errno === 'EACCES' || out.errno === 'EPERM' || out.errno === 'EROFS'
              ? out.error?.includes('systemd') ? 'cgroup_not_delegated' : 'cgroup_permission_denied'
              : 'limit_not_applied';
          if (gov) {
            this.problem(reason, `${c} controller unavailable for ${g.dir}: ${out.error}`, true, out.failedAt ? path.join(out.failedAt, 'cgroup.subtree_control') : undefined);
            this.markNotApplied([r], `${c} controller not enabled: ${out.error}`);
          } else {
            this.warnings.push(`no ${r} accounting: ${out.error}`);
          }
        }
      }
      // 3. The leaf itself.
      try {
        fs.mkdirSync(g.dir);
        leaf.created = true;
        leaf.usable = true;
      } catch (e) {
        if (errnoCode(e) === 'EEXIST' && this.takeOver(leaf)) {
          // reused: said in warnings by takeOver
        } else {
          if (errnoCode(e) !== 'EEXIST') this.creationFailed(leaf, governed.filter((r) => !disabled.has(r)), g.dir, e);
          continue;
        }
      }
      // 4. Limits, each read back.
      const toWrite = governed.filter((r) => !disabled.has(r));
      if (toWrite.length === 0) continue;
      const refuseMemory = toWrite.includes('memory') ? this.memoryRefusal(opts.attachPid) : undefined;
      if (refuseMemory !== undefined) {
        this.problem('memory_limit_below_usage', refuseMemory, true);
        this.limitEntries.push(notApplied('memory.max', path.join(g.dir, g.kind === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(this.limits.memoryMax), `refused: ${refuseMemory}`));
      }
      let entries: LimitReportEntry[];
      if (g.kind === 'v2') {
        entries = applyV2Limits(g.dir, this.limits, { cpu: toWrite.includes('cpu'), memory: toWrite.includes('memory'), io: toWrite.includes('io') }, refuseMemory);
      } else {
        entries = [];
        if (toWrite.includes('cpu')) entries.push(...applyV1Cpu(g.dir, this.limits));
        if (toWrite.includes('memory') && refuseMemory === undefined) entries.push(...applyV1Memory(g.dir, this.limits));
        if (toWrite.includes('io')) entries.push(...applyV1Io(g.dir, this.limits));
      }
      for (const en of entries) {
        this.limitEntries.push(en);
        if (!en.applied) {
          const code = /^(EACCES|EPERM|EROFS)/.exec(en.error ?? '')?.[1];
          this.problem(code ? 'cgroup_permission_denied' : 'limit_not_applied', `${en.limit} not applied: ${en.file}: ${en.error}`, true, en.file);
        }
      }
    }
  }

  /** mkdir failed: say why, per errno. */
  private creationFailed(leaf: LeafState, governed: Resource[], dir: string, e: unknown): void {
    const code = errnoCode(e);
    const denied = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
    const hint = code === 'ENOSPC' ? ' (cgroup.max.descendants or max.depth reached)' : '';
    const detail = `cannot create ${dir}: ${errMessage(e)}${hint}`;
    if (governed.length > 0) {
      this.problem(denied ? 'cgroup_permission_denied' : 'cgroup_unavailable', detail, true, dir);
      this.markNotApplied(governed, detail);
    } else {
      this.warnings.push(`no ${leaf.resources.join('/')} accounting: ${detail}`);
    }
  }

  /**
   * The leaf already exists (same job id). Empty → a leftover of a crashed run: reuse it.
   * Holding processes → another job with this id is alive: do not touch it.
   */
  private takeOver(leaf: LeafState): boolean {
    let isDir = false;
    try {
      isDir = fs.lstatSync(leaf.dir).isDirectory();
    } catch {
      isDir = false;
    }
    const pids = isDir ? readPids(path.join(leaf.dir, 'cgroup.procs')) : null;
    let populated = pids === null || pids.length > 0;
    if (!populated && leaf.kind === 'v2') {
      const ev = readTextOrNull(path.join(leaf.dir, 'cgroup.events'));
      if (ev && /^populated 1/m.test(ev)) populated = true;
    }
    if (!populated) {
      leaf.reused = true;
      leaf.usable = true;
      this.warnings.push(`${leaf.dir} already existed, empty (left over by an earlier run with this job id): reused`);
      return true;
    }
    const detail = `${leaf.dir} already exists and holds processes${pids ? ` (${pids.slice(0, 5).join(', ')})` : ''}: another job with id ${this.jobId} is running; not touched`;
    if (leaf.governs) {
      this.problem('cgroup_placement_failed', detail, true, leaf.dir);
      this.markNotApplied(leaf.resources.filter((r) => this.limitResources().has(r)), detail);
    } else {
      this.warnings.push(detail);
    }
    return false;
  }

  /**
   * attach: runc's CheckMemoryUsage refuses a limit at or below the cgroup's usage. For an
   * attached process the cgroup it sits in is shared (a service, a session), so its usage
   * says nothing about this process: we compare with the process's own resident memory
   * (/proc/<pid>/status VmRSS, which includes its shared pages: conservative).
   */
  private memoryRefusal(pid: number | undefined): string | undefined {
    if (pid === undefined || this.limits.memoryMax === undefined || this.limits.memoryMax === 'max') return undefined;
    const rss = processMemoryBytes(pid);
    if (rss === null) return undefined;
    if (this.limits.memoryMax <= rss) {
      return `memory.max ${this.limits.memoryMax} bytes is at or below the current usage of PID ${pid} (VmRSS ${rss} bytes): it would be OOM-killed at once`;
    }
    return undefined;
  }

  private usableLeaves(): LeafState[] {
    return this.leaves.filter((l) => l.usable);
  }

  /** run: how the child is born governed. Call `close()` after spawn. */
  placementForRun(opts: { cloneIntoCgroup: boolean }): RunPlacement {
    const leaves = this.usableLeaves();
    const procs = leaves.map((l) => path.join(l.dir, 'cgroup.procs'));
    if (opts.cloneIntoCgroup && leaves.length === 1 && leaves[0]!.kind === 'v2') {
      try {
        const fd = fs.openSync(leaves[0]!.dir, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
        let closed = false;
        this.placement = 'clone_into_cgroup';
        return {
          cgroupFd: fd,
          cgroupProcsPaths: [],
          fallbackProcsPaths: procs,
          close: () => {
            if (!closed) {
              closed = true;
              fs.closeSync(fd);
            }
          },
        };
      } catch (e) {
        this.warnings.push(`cannot open ${leaves[0]!.dir} for CLONE_INTO_CGROUP (${errnoCode(e)}): the child writes cgroup.procs instead`);
      }
    }
    this.placement = procs.length > 0 ? 'cgroup_procs' : 'none';
    return { cgroupFd: -1, cgroupProcsPaths: procs, fallbackProcsPaths: procs, close: () => undefined };
  }

  /** The native spawn fell back from CLONE_INTO_CGROUP to procs writes. */
  notePlacementFallback(why: string): void {
    this.placement = 'cgroup_procs';
    this.warnings.push(`CLONE_INTO_CGROUP not used: ${why}`);
  }

  /** Failed `cgroup.procs` writes the child reported (NativeSpawnResult.placementErrors). */
  notePlacementErrors(errors: readonly { index: number; errno: number }[], paths: readonly string[]): void {
    for (const e of errors) {
      const file = paths[e.index] ?? '?';
      const leaf = this.leaves.find((l) => path.join(l.dir, 'cgroup.procs') === file);
      const detail = `the child could not join ${file}: errno ${e.errno}`;
      if (leaf?.governs ?? true) this.problem(e.errno === 1 || e.errno === 13 ? 'cgroup_permission_denied' : 'cgroup_placement_failed', detail, true, file);
      else this.warnings.push(detail);
      if (leaf) leaf.usable = false;
    }
  }

  /**
   * Does /proc/<pid>/cgroup show the job's leaf in each hierarchy? Returns the mismatches
   * (empty = all in place). Records a placement problem for each.
   */
  verifyMembership(pid: number, record = true): string[] {
    const entries = readProcCgroup(pid);
    const bad: string[] = [];
    if (entries === null) return [`/proc/${pid}/cgroup is gone`];
    for (const leaf of this.usableLeaves()) {
      const want = this.expectedCgroupPath(leaf);
      const have =
        leaf.kind === 'v2'
          ? entries.find((e) => e.hierarchyId === 0 && e.controllers.length === 0)?.path
          : entries.find((e) => e.hierarchyId !== 0 && leaf.controllers.every((c) => e.controllers.includes(c)))?.path;
      if (have !== want) {
        const detail = `PID ${pid} is in ${have ?? '(nothing)'} in the ${leaf.kind === 'v2' ? 'v2' : leaf.controllers.join(',')} hierarchy, not ${want}`;
        bad.push(detail);
        if (record) {
          if (leaf.governs) this.problem('cgroup_placement_failed', detail, true, leaf.dir);
          else this.warnings.push(detail);
        }
      }
    }
    return bad;
  }

  private expectedCgroupPath(leaf: LeafState): string {
    const h = leaf.kind === 'v2' ? this.env.v2 : this.env.v1.find((x) => x.mountPoint === leaf.mountPoint);
    const rel = path.relative(leaf.mountPoint, leaf.dir);
    const mountRoot = h?.mountRoot ?? '/';
    return path.posix.join(mountRoot, rel);
  }

  /**
   * attach: move a running process in. The caller opened `ref.pidfd` BEFORE calling (so the
   * PID cannot be recycled under us). One write(2) per hierarchy; EINVAL retried 3× 30 ms
   * (runc: a task in TASK_NEW); then verification through the pidfd and /proc/<pid>/cgroup.
   */
  async attach(ref: ProcessRef): Promise<AttachOutcome> {
    this.placement = 'attach';
    const leaves = this.usableLeaves();
    const details: string[] = [];
    if (leaves.length === 0) return { status: this.leaves.length === 0 && !this.limitsRequested ? 'not_needed' : 'failed', details: ['no job cgroup to move into'] };
    if (isGone(ref)) return { status: 'exited', details: [`PID ${ref.pid} exited before the move (a zombie cannot be moved)`] };
    let moved = 0;
    for (const leaf of leaves) {
      const file = path.join(leaf.dir, 'cgroup.procs');
      let lastCode = '';
      for (let attempt = 0; attempt < 4; attempt++) {
        try {
          writeOnce(file, String(ref.pid));
          lastCode = '';
          break;
        } catch (e) {
          lastCode = errnoCode(e);
          if (lastCode !== 'EINVAL' || attempt === 3) break;
          await sleep(30);
        }
      }
      if (lastCode === '') {
        moved++;
        continue;
      }
      if (lastCode === 'ESRCH') return { status: 'exited', details: [...details, `PID ${ref.pid} exited during the move (ESRCH)`] };
      const meaning: Record<string, string> = {
        EBUSY: 'EBUSY: the no-internal-process rule (the target distributes controllers to children)',
        EACCES: 'EACCES: no write permission on the target or on the common ancestor\'s cgroup.procs',
        EPERM: 'EPERM: not allowed to move this process (another user, or outside our delegation)',
        EROFS: 'EROFS: the cgroup filesystem is read-only',
        EINVAL: 'EINVAL after 3 retries: the kernel refuses to migrate this task (kernel thread, no_cgroup_migration, or still being created)',
        ENODEV: 'ENODEV: the job cgroup is being removed',
        ENOENT: 'ENOENT: the job cgroup is gone (removed by someone else?)',
        EOPNOTSUPP: 'EOPNOTSUPP: the target is not a valid domain cgroup (threaded)',
      };
      const detail = `moving PID ${ref.pid} into ${file} failed: ${meaning[lastCode] ?? lastCode}`;
      details.push(detail);
      const reason: CgroupReason = lastCode === 'EACCES' || lastCode === 'EPERM' || lastCode === 'EROFS' ? 'cgroup_permission_denied' : 'cgroup_placement_failed';
      if (leaf.governs) this.problem(reason, detail, true, file);
      else this.warnings.push(detail);
      leaf.usable = false;
    }
    // Verify: still the same process (pidfd not reaped, not a zombie), then where it is,
    // then the pidfd again (what we read in /proc belonged to it).
    if (isGone(ref)) return { status: 'exited', details: [...details, `PID ${ref.pid} exited during the move`] };
    const mismatches = this.verifyMembership(ref.pid, false);
    if (isGone(ref)) return { status: 'exited', details: [...details, `PID ${ref.pid} exited during verification`] };
    for (const m of mismatches) {
      details.push(m);
      this.problem('cgroup_placement_failed', `after the move: ${m}`, this.limitsRequested);
    }
    if (moved === leaves.length && mismatches.length === 0) return { status: 'attached', details };
    return { status: moved > 0 ? 'partial' : 'failed', details };
  }

  /** CPU seconds, peak memory, OOM kills: read before the leaves are removed. */
  readUsage(): Usage {
    let cpu: number | null = null;
    let peak: number | null = null;
    let oom: number | null = null;
    for (const leaf of this.leaves.filter((l) => l.usable || l.created || l.reused)) {
      if (leaf.kind === 'v2') {
        const u = readV2Usage(leaf.dir);
        if (leaf.resources.includes('cpuacct') || leaf.resources.includes('cpu')) cpu ??= u.cpu_seconds;
        if (leaf.resources.includes('memory')) {
          peak ??= u.memory_peak_bytes;
          oom ??= u.oom_kills;
        }
      } else {
        if (leaf.controllers.includes('cpuacct')) cpu ??= readV1CpuSeconds(leaf.dir);
        if (leaf.controllers.includes('memory')) {
          const m = readV1Memory(leaf.dir);
          peak ??= m.memory_peak_bytes;
          oom ??= m.oom_kills;
        }
      }
    }
    return Object.freeze({ cpu_seconds: cpu, memory_peak_bytes: peak, oom_kills: oom, since: this.mode === 'attach' ? 'attach' : 'start' });
  }

  /**
   * The job ended: remove every leaf we created or reused. rmdir is retried on EBUSY for a
   * moment (the last task may still be leaving); if processes remain, the leaf stays and
   * the report says so (the processes keep their limits).
   */
  async remove(opts: { attempts?: number; delayMs?: number } = {}): Promise<RemovalReport> {
    const attempts = opts.attempts ?? 10;
    const delayMs = opts.delayMs ?? 20;
    const left: { dir: string; reason: string; pids?: number[] }[] = [];
    for (const leaf of this.leaves.filter((l) => l.created || l.reused)) {
      for (let i = 0; ; i++) {
        try {
          fs.rmdirSync(leaf.dir);
          break;
        } catch (e) {
          const code = errnoCode(e);
          if (code === 'ENOENT') break;
          if (code === 'EBUSY' && i + 1 < attempts) {
            await sleep(delayMs);
            continue;
          }
          const pids = readPids(path.join(leaf.dir, 'cgroup.procs')) ?? [];
          left.push({ dir: leaf.dir, reason: code === 'EBUSY' ? (pids.length > 0 ? 'processes remain in it' : 'busy (child cgroups or exiting tasks)') : `rmdir failed: ${code}`, ...(pids.length > 0 ? { pids } : {}) });
          break;
        }
      }
    }
    this.removal = Object.freeze({ removed: left.length === 0, left });
    return this.removal;
  }

  /** Detach: the workload lives on in its cgroup, so the leaves stay. */
  leave(): RemovalReport {
    this.removal = Object.freeze({
      removed: false,
      left: this.leaves.filter((l) => l.created || l.reused).map((l) => ({ dir: l.dir, reason: 'detached: the workload still lives here' })),
    });
    return this.removal;
  }

  /** The violation to put in the Result, or null (also null when nothing was requested). */
  violation(): CgroupReason | null {
    for (const r of CGROUP_REASON_PRIORITY) if (this.problems.some((p) => p.violation && p.reason === r)) return r;
    return null;
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

/**
 * mkdir -p below a mount, one level at a time, so the real errno comes back (Node's
 * recursive mkdir reports ENOENT for EROFS).
 */
function mkdirChain(mountPoint: string, dir: string): void {
  const rel = path.relative(mountPoint, dir);
  if (rel === '') return;
  let cur = mountPoint;
  for (const part of rel.split(path.sep)) {
    cur = path.join(cur, part);
    try {
      fs.mkdirSync(cur);
    } catch (e) {
      if (errnoCode(e) !== 'EEXIST') throw e;
    }
  }
}

/** `--cgroup-root` must be an absolute, normalised path (UsageError otherwise). */
export function checkRootFlag(p: string): void {
  if (!path.isAbsolute(p) || p.includes('\0') || path.normalize(p).replace(/\/+$/, '') !== p.replace(/\/+$/, '') || p.split('/').includes('..')) {
    throw new UsageError(`--cgroup-root must be an absolute, normalised path without "..", e.g. /sys/fs/cgroup/ffrtmp; got ${JSON.stringify(p)}`);
  }
}

