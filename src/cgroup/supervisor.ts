/**
 * cgroup v2's "no internal processes" rule, for a service whose job cgroups live in its own
 * delegated unit cgroup (systemd `Delegate=yes`; docs/edge-deployment.md "Delegation").
 *
 * A v2 cgroup with controllers enabled in its `cgroup.subtree_control` may hold no process
 * (the kernel refuses the write with EBUSY while it does). systemd starts a service's main
 * process IN the unit cgroup; systemd ≥ 254 can start it one level down instead
 * (`DelegateSubgroup=supervisor`), but Debian 12 has 252. So before the first job cgroup is
 * created below it, the service moves itself, and every other process still in the unit cgroup
 * (its plain children, say), into a leaf of its own, `<unit cgroup>/supervisor` (the name
 * DelegateSubgroup= would use: the same layout either way, and planRoots finds the unit as
 * the delegated parent afterwards). Job cgroups are then siblings of that leaf.
 *
 * Only when our own v2 cgroup IS the root the job cgroups go in; nothing is done on v1 (no such
 * rule) or when the root is elsewhere. Done at most once per process; never undone.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { cgroupPathToDir, parseProcCgroup, type CgroupEnv } from './detect';
import { errnoCode, readPids } from './fsutil';

export const SUPERVISOR_LEAF = 'supervisor';

export type SupervisorMove =
  /** Not needed: v1, no v2 root, or we are not in the root itself. */
  | { readonly moved: false; readonly why: string }
  | { readonly moved: true; readonly from: string; readonly to: string; readonly pids: readonly number[] }
  | { readonly moved: false; readonly failed: true; readonly from: string; readonly to: string; readonly error: string };

/** Our own v2 cgroup directory now (it changes when we move). Null when unknown. */
export function ownV2Dir(env: CgroupEnv, procSelfCgroup?: string): string | null {
  if (!env.v2) return null;
  let text = procSelfCgroup;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/cgroup', 'utf8');
    } catch {
      return null;
    }
  }
  const v2 = parseProcCgroup(text).find((e) => e.hierarchyId === 0 && e.controllers.length === 0);
  return v2 ? cgroupPathToDir(env.v2.mountPoint, env.v2.mountRoot, v2.path) : null;
}

/**
 * Moves this process (and whatever else is in `v2Root`) into `<v2Root>/supervisor` when we sit in
 * `v2Root` itself. Idempotent: once we are out, it only reads /proc/self/cgroup.
 */
export function leaveRootForSupervisorLeaf(env: CgroupEnv, v2Root: string | null): SupervisorMove {
  if (!env.v2 || v2Root === null) return { moved: false, why: 'no cgroup v2 root' };
  const own = ownV2Dir(env);
  if (own === null) return { moved: false, why: 'own cgroup unknown' };
  if (path.resolve(own) !== path.resolve(v2Root)) return { moved: false, why: `not in ${v2Root}` };
  const to = path.join(v2Root, SUPERVISOR_LEAF);
  try {
    fs.mkdirSync(to);
  } catch (e) {
    if (errnoCode(e) !== 'EEXIST') return { moved: false, failed: true, from: v2Root, to, error: `mkdir ${to}: ${errnoCode(e)}` };
  }
  const procs = path.join(to, 'cgroup.procs');
  try {
    // "0" moves the writer's whole thread group: ourselves first.
    fs.writeFileSync(procs, '0');
  } catch (e) {
    return { moved: false, failed: true, from: v2Root, to, error: `moving ourselves into ${to}: ${errnoCode(e)}` };
  }
  const moved = [process.pid];
  // The rest (children started before: they would keep the root "internal" and controllers off).
  for (const pid of readPids(path.join(v2Root, 'cgroup.procs')) ?? []) {
    try {
      fs.writeFileSync(procs, String(pid));
      moved.push(pid);
    } catch {
      /* gone meanwhile (ESRCH), or a zombie: nothing to keep out */
    }
  }
  return { moved: true, from: v2Root, to, pids: moved };
}
