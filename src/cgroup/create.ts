/**
 * Creating a job's leaves from its plan: the parent chain below the mount, the v2 controllers
 * along it, the leaf itself, and every requested limit written and read back. Degrade, never
 * block: every failure is recorded in the ledger and the next leaf is tried.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupReason, LimitReportEntry } from '../model/cgroup-report';
import { V2_CONTROLLER, type CgroupEnv, type Resource } from './detect';
import { errMessage, errnoCode, readPids } from './fsutil';
import type { CgroupLedger } from './ledger';
import type { Limits } from './limits';
import { limitResources, type JobPlan, type LeafPlan } from './plan';
import { processMemoryBytes } from './procs';
import type { LeafState } from './types';
import { applyV1Cpu, applyV1Io, applyV1Memory } from './v1';
import { applyV2Limits, enableController } from './v2';
import { notApplied } from './write';

export interface CreateOptions {
  readonly limits: Limits;
  /** attach: the process, so a memory limit at or below its current usage is refused. */
  readonly attachPid?: number;
}

/** Creates every planned leaf (and reports the resources nothing provides). Returns their state. */
export function createLeaves(plan: JobPlan, env: CgroupEnv, ledger: CgroupLedger, opts: CreateOptions): LeafState[] {
  for (const m of plan.missing) {
    if (m.governed) {
      const detail = `no cgroup hierarchy here provides the ${m.resource === 'io' ? 'io/blkio' : m.resource} controller`;
      ledger.problem(env.mode === 'none' ? 'cgroup_unavailable' : 'limit_not_applied', detail, true);
      ledger.markNotApplied([m.resource], detail);
    } else {
      ledger.warnings.push(`no ${m.resource} accounting: no hierarchy provides it`);
    }
  }
  const governedResources = limitResources(opts.limits);
  return plan.leaves.map((p) => createLeaf(p, env, ledger, opts, governedResources));
}

function createLeaf(p: LeafPlan, env: CgroupEnv, ledger: CgroupLedger, opts: CreateOptions, limitRes: Set<Resource>): LeafState {
  const leaf: LeafState = { ...p, created: false, adopted: false, usable: false };
  const governed = p.resources.filter((r) => limitRes.has(r));
  const root = path.dirname(p.dir);
  // 1. The parent (root) directory, created below the mount as needed. Roots are shared by all
  //    jobs, so they are never removed.
  try {
    mkdirChain(p.mountPoint, root);
  } catch (e) {
    creationFailed(ledger, leaf, governed, root, e);
    return leaf;
  }
  // 2. v2: controllers along the chain, down to the root (never the leaf).
  const disabled = new Set<Resource>();
  if (p.kind === 'v2') {
    for (const r of p.resources) {
      const c = V2_CONTROLLER[r];
      if (c === null) continue;
      const out = enableController(p.mountPoint, root, c, env.systemd);
      if (out.ok) continue;
      disabled.add(r);
      const reason: CgroupReason =
        out.errno === 'EACCES' || out.errno === 'EPERM' || out.errno === 'EROFS'
          ? out.error?.includes('systemd') ? 'cgroup_not_delegated' : 'cgroup_permission_denied'
          : 'limit_not_applied';
      if (limitRes.has(r)) {
        ledger.problem(reason, `${c} controller unavailable for ${p.dir}: ${out.error}`, true, out.failedAt ? path.join(out.failedAt, 'cgroup.subtree_control') : undefined);
        ledger.markNotApplied([r], `${c} controller not enabled: ${out.error}`);
      } else {
        ledger.warnings.push(`no ${r} accounting: ${out.error}`);
      }
    }
  }
  // 3. The leaf itself.
  try {
    fs.mkdirSync(p.dir);
    leaf.created = true;
    leaf.usable = true;
  } catch (e) {
    if (errnoCode(e) === 'EEXIST') refuseExisting(ledger, leaf, governed.filter((r) => !disabled.has(r)));
    else creationFailed(ledger, leaf, governed.filter((r) => !disabled.has(r)), p.dir, e);
    return leaf;
  }
  // 4. Limits, each read back.
  const toWrite = governed.filter((r) => !disabled.has(r));
  if (toWrite.length === 0) return leaf;
  const refuseMemory = toWrite.includes('memory') ? memoryRefusal(opts.limits, opts.attachPid) : undefined;
  if (refuseMemory !== undefined) {
    ledger.problem('memory_limit_below_usage', refuseMemory, true);
    ledger.limitEntries.push(notApplied('memory.max', path.join(p.dir, p.kind === 'v2' ? 'memory.max' : 'memory.limit_in_bytes'), String(opts.limits.memoryMax), `refused: ${refuseMemory}`));
  }
  let entries: LimitReportEntry[];
  if (p.kind === 'v2') {
    entries = applyV2Limits(p.dir, opts.limits, { cpu: toWrite.includes('cpu'), memory: toWrite.includes('memory'), io: toWrite.includes('io') }, refuseMemory);
  } else {
    entries = [];
    if (toWrite.includes('cpu')) entries.push(...applyV1Cpu(p.dir, opts.limits));
    if (toWrite.includes('memory') && refuseMemory === undefined) entries.push(...applyV1Memory(p.dir, opts.limits));
    if (toWrite.includes('io')) entries.push(...applyV1Io(p.dir, opts.limits));
  }
  for (const en of entries) {
    ledger.limitEntries.push(en);
    if (!en.applied) {
      const code = /^(EACCES|EPERM|EROFS)/.exec(en.error ?? '')?.[1];
      ledger.problem(code ? 'cgroup_permission_denied' : 'limit_not_applied', `${en.limit} not applied: ${en.file}: ${en.error}`, true, en.file);
    }
  }
  return leaf;
}

/** mkdir failed: say why, per errno. */
function creationFailed(ledger: CgroupLedger, leaf: LeafState, governed: Resource[], dir: string, e: unknown): void {
  const code = errnoCode(e);
  const denied = code === 'EACCES' || code === 'EPERM' || code === 'EROFS';
  const hint = code === 'ENOSPC' ? ' (cgroup.max.descendants or max.depth reached)' : '';
  const detail = `cannot create ${dir}: ${errMessage(e)}${hint}`;
  if (governed.length > 0) {
    ledger.problem(denied ? 'cgroup_permission_denied' : 'cgroup_unavailable', detail, true, dir);
    ledger.markNotApplied(governed, detail);
  } else {
    ledger.warnings.push(`no ${leaf.resources.join('/')} accounting: ${detail}`);
  }
}

/**
 * The leaf already exists. Leaves are named after the run (`<job id>.<run id>`), so this is not
 * a leftover of ours to reuse: it is someone else's, or a collision. Never touched, never reused.
 */
function refuseExisting(ledger: CgroupLedger, leaf: LeafState, governed: Resource[]): void {
  const pids = isDirectory(leaf.dir) ? readPids(path.join(leaf.dir, 'cgroup.procs')) : null;
  const detail = `${leaf.dir} already exists${pids && pids.length > 0 ? ` and holds processes (${pids.slice(0, 5).join(', ')})` : ''}: a job cgroup is never reused; not touched`;
  ledger.trouble(leaf.governs, 'cgroup_placement_failed', detail, leaf.dir);
  if (leaf.governs) ledger.markNotApplied(governed, detail);
}

/** lstat, not stat: a symlink planted in our root is not one of our leaves. */
export function isDirectory(dir: string): boolean {
  try {
    return fs.lstatSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/**
 * attach: runc's CheckMemoryUsage refuses a limit at or below the cgroup's usage. For an
 * attached process the cgroup it sits in is shared (a service, a session), so its usage says
 * nothing about this process: we compare with the process's own resident memory
 * (/proc/<pid>/status VmRSS, which includes its shared pages: conservative).
 */
function memoryRefusal(limits: Limits, pid: number | undefined): string | undefined {
  if (pid === undefined || limits.memoryMax === undefined || limits.memoryMax === 'max') return undefined;
  const rss = processMemoryBytes(pid);
  if (rss === null) return undefined;
  if (limits.memoryMax <= rss) {
    return `memory.max ${limits.memoryMax} bytes is at or below the current usage of PID ${pid} (VmRSS ${rss} bytes): it would be OOM-killed at once`;
  }
  return undefined;
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
