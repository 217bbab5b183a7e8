/**
 * Is a process already inside a job cgroup (under our root), i.e. governed by an ffrtmp job,
 * possibly one recorded in another state directory? `attach` refuses such a process.
 */
import * as path from 'node:path';
import { cgroupPathToDir, type CgroupEnv } from './detect';
import { readProcCgroup } from './procs';
import type { RootPlan } from './root';

/** The job cgroup directory holding `pid`, or null (not inside our root, or gone). */
export function jobCgroupOf(pid: number, env: CgroupEnv, plan: RootPlan): string | null {
  if (plan.refused) return null;
  const entries = readProcCgroup(pid);
  if (entries === null) return null;
  const roots: { mount: string; mountRoot: string; root: string; v2: boolean }[] = [];
  if (env.v2 && plan.v2Root) roots.push({ mount: env.v2.mountPoint, mountRoot: env.v2.mountRoot, root: plan.v2Root, v2: true });
  if (plan.v1Rel !== null) for (const h of env.v1) roots.push({ mount: h.mountPoint, mountRoot: h.mountRoot, root: path.join(h.mountPoint, plan.v1Rel), v2: false });
  for (const r of roots) {
    const h = r.v2 ? null : env.v1.find((x) => x.mountPoint === r.mount);
    const entry = r.v2
      ? entries.find((e) => e.hierarchyId === 0 && e.controllers.length === 0)
      : entries.find((e) => e.hierarchyId !== 0 && (h?.controllers ?? []).every((c) => e.controllers.includes(c)));
    if (!entry) continue;
    const dir = cgroupPathToDir(r.mount, r.mountRoot, entry.path);
    if (dir !== null && dir.startsWith(`${r.root}/`)) return dir;
  }
  return null;
}
