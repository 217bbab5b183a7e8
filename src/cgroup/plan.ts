/**
 * Planning a job's cgroups: which hierarchies, which leaf directories, which of them carry a
 * requested limit. Pure: it reads nothing and writes nothing (the detection result and the root
 * plan come in), so it is unit-tested without cgroups (test/cgroup/plan.test.ts).
 *
 * A job has one leaf per hierarchy it uses:
 * - pure v2: one leaf `<root>/<leaf name>`;
 * - v1 / hybrid: one leaf per v1 hierarchy that provides a resource it needs (`cpu` for cpu
 *   limits, `cpuacct` for CPU seconds, `memory`, `blkio` for io); co-mounted hierarchies
 *   (`cpu,cpuacct`) share one.
 * Leaves that carry a requested limit "govern": trouble there is an SLA violation. Leaves that
 * only account (CPU seconds, peak memory, OOM kills) are best effort.
 */
import * as path from 'node:path';
import { DEFAULT_ROOT_NAME, type RootPlan } from './root';
import { resourceHome, type CgroupEnv, type Resource, type ResourceHome } from './detect';
import type { Limits } from './limits';

/** One leaf to create, in one hierarchy. */
export interface LeafPlan {
  readonly kind: 'v2' | 'v1';
  readonly mountPoint: string;
  readonly dir: string;
  /** v1: the hierarchy's controllers; v2: the controllers that must be enabled for the leaf. */
  readonly controllers: readonly string[];
  readonly resources: readonly Resource[];
  /** Carries at least one requested limit. */
  readonly governs: boolean;
}

/** A resource no hierarchy provides here. */
export interface MissingResource {
  readonly resource: Resource;
  /** A requested limit needs it (a violation), or only accounting does (a warning). */
  readonly governed: boolean;
}

export interface JobPlan {
  readonly leaves: readonly LeafPlan[];
  readonly missing: readonly MissingResource[];
}

/** The resources the requested limits need. */
export function limitResources(limits: Limits): Set<Resource> {
  const s = new Set<Resource>();
  if (limits.cpuMax || limits.cpuWeight !== undefined) s.add('cpu');
  if (limits.memoryMax !== undefined) s.add('memory');
  if ((limits.io?.length ?? 0) > 0) s.add('io');
  return s;
}

/** The one formula for where a leaf lives: under the v2 root, or under `<mount>/<v1 rel>`. */
export function leafDir(root: RootPlan, home: Exclude<ResourceHome, { kind: 'none' }>, leafName: string): string {
  const mountPoint = home.hierarchy.mountPoint;
  return home.kind === 'v2'
    ? path.join(root.v2Root ?? path.join(mountPoint, DEFAULT_ROOT_NAME), leafName)
    : path.join(mountPoint, root.v1Rel ?? DEFAULT_ROOT_NAME, leafName);
}

/**
 * The leaves of one job. `accounting` adds `cpuacct` and `memory` for usage numbers even where
 * no limit needs them; without it, a CPU limit still brings `cpuacct` (on v1 its own hierarchy:
 * the CPU seconds of what is limited), and nothing else is added.
 */
export function planLeaves(env: CgroupEnv, root: RootPlan, leafName: string, limits: Limits, accounting: boolean): JobPlan {
  const governed = limitResources(limits);
  const wanted = new Set<Resource>(governed);
  if (accounting) {
    wanted.add('cpuacct');
    wanted.add('memory');
  } else if (governed.has('cpu')) {
    wanted.add('cpuacct');
  }
  const missing: MissingResource[] = [];
  const groups = new Map<string, { kind: 'v2' | 'v1'; mountPoint: string; dir: string; controllers: string[]; resources: Resource[] }>();
  for (const r of wanted) {
    const home = resourceHome(env, r);
    if (home.kind === 'none') {
      missing.push({ resource: r, governed: governed.has(r) });
      continue;
    }
    const mountPoint = home.hierarchy.mountPoint;
    let g = groups.get(mountPoint);
    if (!g) {
      g = { kind: home.kind, mountPoint, dir: leafDir(root, home, leafName), controllers: home.kind === 'v1' ? [...home.hierarchy.controllers] : [], resources: [] };
      groups.set(mountPoint, g);
    }
    g.resources.push(r);
    if (home.kind === 'v2' && home.controller !== null && !g.controllers.includes(home.controller)) g.controllers.push(home.controller);
  }
  const leaves = [...groups.values()].map((g) => ({ ...g, governs: g.resources.some((r) => governed.has(r)) }));
  return { leaves, missing };
}
