/**
 * Where job cgroups live, and whether we may write there.
 *
 * Defaults (docs/cgroups.md "Where cgroups live"):
 * - v2: our own cgroup when it is delegated to us (systemd `Delegate=yes`), otherwise
 *   `<v2 mount>/ffrtmp`;
 * - v1 (and the v1 part of hybrid): `<controller mount>/ffrtmp` in every hierarchy used.
 * - `--cgroup-root <abs path>` overrides: the path must be inside a cgroup mount; its path
 *   relative to that mount is used in every hierarchy (so `/sys/fs/cgroup/memory/batch`
 *   on v1 means `<mount>/batch` in cpu, cpuacct, memory and blkio alike).
 *
 * Delegation (systemd docs/CGROUP_DELEGATION.md): systemd marks a delegated cgroup with the
 * extended attribute `trusted.delegate=1` (and `user.delegate=1` for user managers) and, for
 * services with `User=`, chowns the cgroup directory and its `cgroup.procs`,
 * `cgroup.subtree_control` and `cgroup.threads` to that user. We accept either signal:
 *   1. the xattr reader (getxattr(2) from the addon, by default) says `1` → delegated;
 *   2. we are not root and own the directory and can write `cgroup.procs` and
 *      `cgroup.subtree_control` → delegated (only systemd's delegation produces that; it also
 *      covers a systemd that sets no xattr, and `trusted.*`, which only root can read);
 *   3. otherwise: not delegated when there is a reader, unknown when there is none.
 * A root below a systemd unit (`*.slice`, `*.service`, `*.scope`, ...) that is provably NOT
 * delegated is refused (`cgroup_not_delegated`): systemd may move our processes back or
 * remove our directories. "Unknown" is refused for the default root and, for an explicit
 * `--cgroup-root`, accepted with a warning in the report (the operator chose it; we say so).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { CgroupRootSource } from '../model/cgroup-report';
import { loadNative } from '../native/load';
import type { CgroupEnv, V1Hierarchy, V2Hierarchy } from './detect';

export type XattrReader = (file: string, name: string) => string | null;

let systemReader: XattrReader | null | undefined;

/**
 * getxattr(2) through the addon (Node has no xattr API): the value as text, null when absent.
 * Null (no reader at all) when the addon is not loaded. Errors (ENOENT, EACCES, ENOTSUP) throw.
 */
export function systemXattrReader(): XattrReader | null {
  if (systemReader === undefined) {
    const loaded = loadNative();
    systemReader = loaded.available ? (file, name) => loaded.native.getxattr(file, name)?.toString('utf8') ?? null : null;
  }
  return systemReader;
}

/** The attributes systemd sets on a delegated cgroup: as root (system manager), and for user managers. */
export const DELEGATE_XATTRS = ['trusted.delegate', 'user.delegate'] as const;

/** Which delegate attribute a directory carries with value 1, or null (absent, unreadable, no reader). */
export function delegateXattrOf(dir: string, reader: XattrReader | null = systemXattrReader()): (typeof DELEGATE_XATTRS)[number] | null {
  if (reader === null) return null;
  for (const name of DELEGATE_XATTRS) {
    try {
      const v = reader(dir, name);
      if (v !== null && v.trim() === '1') return name;
    } catch {
      /* ENOENT/EACCES/ENOTSUP: look at the next one */
    }
  }
  return null;
}

export type Delegation = 'yes' | 'no' | 'unknown';

export interface RootOptions {
  /** `--cgroup-root`: absolute path inside a cgroup mount. */
  cgroupRoot?: string;
  /**
   * Reads an extended attribute. Absent: the addon's getxattr (systemXattrReader), when loaded.
   * null: no reader (tests of the fallback).
   */
  getxattr?: XattrReader | null;
  /** Effective uid (tests). Default process.geteuid(). */
  euid?: number;
}

export interface RootPlan {
  /** How the roots were chosen. */
  readonly source: CgroupRootSource;
  /** The v2 parent directory of job leaves, or null when v2 is not used / not possible. */
  readonly v2Root: string | null;
  /** Relative path under each v1 mount (`ffrtmp` by default). Null when v1 is not possible. */
  readonly v1Rel: string | null;
  /** Said in the report; never a violation by itself. */
  readonly warnings: readonly string[];
  /** Set when we must not write anywhere (the reason and a human sentence). */
  readonly refused: { readonly reason: 'cgroup_not_delegated' | 'cgroup_unavailable'; readonly detail: string } | null;
}

export const DEFAULT_ROOT_NAME = 'ffrtmp';

/** A systemd unit's cgroup directory name (`nginx.service`, `user.slice`, `session-3.scope`). */
export const UNIT_RE = /\.(slice|service|scope|socket|mount|swap|device|target)$/;

/** The deepest systemd unit on a cgroup path (`/system.slice/nginx.service` → `nginx.service`), or undefined. */
export function unitOf(cgroupPath: string): string | undefined {
  return cgroupPath.split('/').filter((p) => UNIT_RE.test(p)).pop();
}

/** Is this cgroup directory delegated to us? See the module comment. */
export function delegationOf(dir: string, opts: RootOptions = {}): Delegation {
  const reader = opts.getxattr === undefined ? systemXattrReader() : opts.getxattr;
  if (delegateXattrOf(dir, reader) !== null) return 'yes';
  const euid = opts.euid ?? process.geteuid?.() ?? 0;
  if (euid !== 0) {
    try {
      const st = fs.statSync(dir);
      if (st.uid === euid) {
        fs.accessSync(path.join(dir, 'cgroup.procs'), fs.constants.W_OK);
        fs.accessSync(path.join(dir, 'cgroup.subtree_control'), fs.constants.W_OK);
        return 'yes';
      }
    } catch {
      /* not ours */
    }
  }
  return reader === null ? 'unknown' : 'no';
}

/**
 * The deepest systemd unit directory on the way from `mountPoint` to `dir` (inclusive), or
 * null when `dir` is not below any unit. Only meaningful when systemd runs.
 */
export function enclosingUnitDir(mountPoint: string, dir: string): string | null {
  const rel = path.relative(mountPoint, dir);
  if (rel === '' || rel.startsWith('..')) return null;
  const parts = rel.split(path.sep);
  let found: string | null = null;
  for (let i = 0; i < parts.length; i++) {
    if (UNIT_RE.test(parts[i]!)) found = path.join(mountPoint, ...parts.slice(0, i + 1));
  }
  return found;
}

/** Returns [mountPoint, rel] when `p` is inside one of the env's cgroup mounts. */
function locate(env: CgroupEnv, p: string): { mount: V2Hierarchy | V1Hierarchy; kind: 'v2' | 'v1'; rel: string } | null {
  const candidates: { mount: V2Hierarchy | V1Hierarchy; kind: 'v2' | 'v1' }[] = [
    ...(env.v2 ? [{ mount: env.v2, kind: 'v2' as const }] : []),
    ...env.v1.map((h) => ({ mount: h, kind: 'v1' as const })),
  ];
  let best: { mount: V2Hierarchy | V1Hierarchy; kind: 'v2' | 'v1'; rel: string } | null = null;
  for (const c of candidates) {
    const rel = path.relative(c.mount.mountPoint, p);
    if (rel.startsWith('..') || path.isAbsolute(rel)) continue;
    if (!best || c.mount.mountPoint.length > best.mount.mountPoint.length) best = { ...c, rel };
  }
  return best;
}

export function planRoots(env: CgroupEnv, opts: RootOptions = {}): RootPlan {
  const warnings: string[] = [];
  if (env.mode === 'none') {
    return { source: opts.cgroupRoot ? 'flag' : 'default', v2Root: null, v1Rel: null, warnings, refused: { reason: 'cgroup_unavailable', detail: 'no cgroup filesystem is mounted (or it is hidden): cgroups are unavailable here' } };
  }

  if (opts.cgroupRoot !== undefined) {
    const p = path.resolve(opts.cgroupRoot);
    const loc = locate(env, p);
    if (!loc) {
      return { source: 'flag', v2Root: null, v1Rel: null, warnings, refused: { reason: 'cgroup_unavailable', detail: `--cgroup-root ${p} is not inside a cgroup mount` } };
    }
    const v2Root = env.v2 ? path.join(env.v2.mountPoint, loc.rel) : null;
    const plan: RootPlan = { source: 'flag', v2Root, v1Rel: loc.rel, warnings, refused: null };
    return checkSystemd(env, plan, opts, true);
  }

  let v2Root: string | null = null;
  let source: RootPlan['source'] = 'default';
  if (env.v2) {
    const own = env.v2.ownDir;
    // Own cgroup delegated? With systemd's DelegateSubgroup= we sit one level below the
    // delegated unit cgroup: look at own and its parent.
    const candidates = own ? [own, path.dirname(own)] : [];
    for (const c of candidates) {
      if (!c.startsWith(env.v2.mountPoint) || c === env.v2.mountPoint) continue;
      if (delegationOf(c, opts) === 'yes') {
        v2Root = c;
        source = 'delegated';
        break;
      }
    }
    if (v2Root === null) v2Root = path.join(env.v2.mountPoint, DEFAULT_ROOT_NAME);
  }
  const plan: RootPlan = { source, v2Root, v1Rel: env.v1.length > 0 ? DEFAULT_ROOT_NAME : null, warnings, refused: null };
  return checkSystemd(env, plan, opts, false);
}

/** Refuse roots inside systemd units that are not delegated to us. */
function checkSystemd(env: CgroupEnv, plan: RootPlan, opts: RootOptions, explicit: boolean): RootPlan {
  if (!env.systemd) return plan;
  const dirs: string[] = [];
  if (plan.v2Root && env.v2) dirs.push(plan.v2Root);
  if (plan.v1Rel !== null) for (const h of env.v1) dirs.push(path.join(h.mountPoint, plan.v1Rel));
  const warnings = [...plan.warnings];
  for (const d of dirs) {
    const mount = env.v2 && d.startsWith(env.v2.mountPoint + '/') ? env.v2.mountPoint : env.v1.find((h) => d.startsWith(h.mountPoint + '/'))?.mountPoint;
    if (!mount) continue;
    const unit = enclosingUnitDir(mount, d);
    if (unit === null) continue;
    const del = delegationOf(unit, opts);
    if (del === 'yes') continue;
    if (del === 'no' || !explicit) {
      return { ...plan, warnings, refused: { reason: 'cgroup_not_delegated', detail: `${d} is inside systemd unit ${path.basename(unit)}, which is not delegated to us (needs Delegate=yes)` } };
    }
    warnings.push(`${d} is inside systemd unit ${path.basename(unit)}; delegation could not be verified (no xattr reader): systemd may move or remove what we create there`);
  }
  return { ...plan, warnings };
}

/** One delegated cgroup on the way from a mount to our own cgroup, as `ffrtmp doctor` shows it. */
export interface DelegatedUnit {
  /** The cgroup directory (`/sys/fs/cgroup/system.slice/ffrtmp-agent.service`). */
  readonly dir: string;
  /** Its systemd unit name, when it is one (`ffrtmp-agent.service`, `user@1000.service`). */
  readonly unit: string | null;
  /** Which attribute said so. */
  readonly xattr: (typeof DELEGATE_XATTRS)[number];
  /** `cgroup.controllers` of the directory: what it may hand down. */
  readonly controllers: readonly string[];
  /** Owner of the directory (systemd chowns it to the unit's User=). */
  readonly ownerUid: number | null;
}

/**
 * The delegated cgroups from `mountPoint` down to `dir` (inclusive), outermost first: for a
 * process in `user@1000.service/app.slice/x.scope` both `user@1000.service` and `x.scope` when
 * both are delegated. Read-only (stat, getxattr, one read per directory).
 */
export function delegatedAncestors(mountPoint: string, dir: string, reader: XattrReader | null = systemXattrReader()): DelegatedUnit[] {
  const rel = path.relative(mountPoint, dir);
  if (rel.startsWith('..') || path.isAbsolute(rel)) return [];
  const parts = rel === '' ? [] : rel.split(path.sep);
  const out: DelegatedUnit[] = [];
  for (let i = 1; i <= parts.length; i++) {
    const d = path.join(mountPoint, ...parts.slice(0, i));
    const xattr = delegateXattrOf(d, reader);
    if (xattr === null) continue;
    let controllers: string[] = [];
    let ownerUid: number | null = null;
    try {
      controllers = fs.readFileSync(path.join(d, 'cgroup.controllers'), 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      /* v1 has no cgroup.controllers */
    }
    try {
      ownerUid = fs.statSync(d).uid;
    } catch {
      /* gone */
    }
    const name = parts[i - 1]!;
    out.push({ dir: d, unit: UNIT_RE.test(name) ? name : null, xattr, controllers, ownerUid });
  }
  return out;
}
