/**
 * What cgroup world are we in? Read from /proc/self/mountinfo (not "does
 * /sys/fs/cgroup/cgroup.controllers exist"), because hybrid hosts have both kinds, containers
 * mount subtrees, and a mount can be hidden under another one.
 *
 * - `v2`: only a cgroup2 mount (unified);
 * - `v1`: only v1 hierarchies (legacy);
 * - `hybrid`: v1 hierarchies that hold the controllers plus a cgroup2 mount (systemd's
 *   `/sys/fs/cgroup/unified`), where usually no controller lives;
 * - `none`: no usable cgroup mount (a locked-down container).
 *
 * Every mount found in mountinfo is checked with statfs(2): if something else is mounted on
 * top of it (e.g. a tmpfs over /sys/fs/cgroup), the path no longer reaches the cgroup
 * filesystem and the mount is ignored.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { errMessage, readTextOrNull } from './fsutil';

import type { CgroupMode } from '../model/cgroup-report';

export type { CgroupMode };

/** statfs f_type values (include/uapi/linux/magic.h). */
export const CGROUP_SUPER_MAGIC = 0x27e0eb;
export const CGROUP2_SUPER_MAGIC = 0x63677270;

export interface MountInfoEntry {
  readonly mountId: number;
  readonly parentId: number;
  /** The directory of the filesystem that is mounted (a cgroup path for cgroupfs). */
  readonly root: string;
  readonly mountPoint: string;
  readonly mountOptions: readonly string[];
  readonly fsType: string;
  readonly source: string;
  readonly superOptions: readonly string[];
}

/** One line of /proc/self/cgroup: `hierarchy-id:controller-list:path`. */
export interface ProcCgroupEntry {
  readonly hierarchyId: number;
  /** v1: `['cpu','cpuacct']` or `['name=systemd']`; v2: `[]`. */
  readonly controllers: readonly string[];
  readonly path: string;
}

export interface V1Hierarchy {
  /** Where it is mounted, e.g. `/sys/fs/cgroup/memory` (co-mounted: `/sys/fs/cgroup/cpu,cpuacct`). */
  readonly mountPoint: string;
  /** The cgroup the mount shows as its top (`/` unless a container mounted a subtree). */
  readonly mountRoot: string;
  /** Controllers bound to this hierarchy (`cpu`, `cpuacct`, ...), without `name=` entries. */
  readonly controllers: readonly string[];
  readonly readOnly: boolean;
  /** Our own cgroup in this hierarchy as a directory, or null when it is not below the mount. */
  readonly ownDir: string | null;
  /** Our own cgroup path as /proc/self/cgroup states it. */
  readonly ownPath: string | null;
}

export interface V2Hierarchy {
  readonly mountPoint: string;
  readonly mountRoot: string;
  readonly readOnly: boolean;
  /** `cgroup.controllers` of the mount's top cgroup: what exists at all in this hierarchy. */
  readonly controllers: readonly string[];
  readonly ownDir: string | null;
  readonly ownPath: string | null;
}

export interface CgroupEnv {
  readonly mode: CgroupMode;
  readonly v2: V2Hierarchy | null;
  /** Only hierarchies with at least one controller (named ones such as `name=systemd` are left alone). */
  readonly v1: readonly V1Hierarchy[];
  /** systemd is the service manager (`/run/systemd/system` exists): its cgroups are not ours. */
  readonly systemd: boolean;
  /** Things detection noticed and ignored (hidden mounts, unreadable files), for doctor. */
  readonly notes: readonly string[];
}

export interface DetectOptions {
  /** Text of /proc/self/mountinfo (tests). */
  mountinfo?: string;
  /** Text of /proc/self/cgroup (tests). */
  procSelfCgroup?: string;
  /** Skip the statfs check (tests with fake mount points). Default false. */
  skipStatfs?: boolean;
  /** Override the systemd check (tests). */
  systemd?: boolean;
}

/** `\040` style octal escapes in mountinfo fields. */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}

export function parseMountInfo(text: string): MountInfoEntry[] {
  const out: MountInfoEntry[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const a = line.slice(0, sep).split(' ');
    const b = line.slice(sep + 3).split(' ');
    if (a.length < 6 || b.length < 3) continue;
    out.push({
      mountId: Number(a[0]),
      parentId: Number(a[1]),
      root: unescapeMount(a[3]!),
      mountPoint: unescapeMount(a[4]!),
      mountOptions: a[5]!.split(','),
      fsType: b[0]!,
      source: unescapeMount(b[1]!),
      superOptions: b[2]!.split(','),
    });
  }
  return out;
}

export function parseProcCgroup(text: string): ProcCgroupEntry[] {
  const out: ProcCgroupEntry[] = [];
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    out.push({ hierarchyId: Number(m[1]), controllers: m[2] === '' ? [] : m[2]!.split(','), path: m[3]! });
  }
  return out;
}

/** v1 controller names that can appear in super options (everything else is a mount flag). */
const V1_CONTROLLERS = new Set([
  'cpu', 'cpuacct', 'cpuset', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio', 'blkio',
  'perf_event', 'hugetlb', 'pids', 'rdma', 'misc',
]);

/**
 * Maps a cgroup path from /proc/self/cgroup onto the mount: the mount shows `mountRoot`
 * at `mountPoint`; a path outside that subtree is not reachable through it.
 */
export function cgroupPathToDir(mountPoint: string, mountRoot: string, cgPath: string): string | null {
  const root = mountRoot === '/' ? '' : mountRoot.replace(/\/+$/, '');
  if (root !== '' && cgPath !== root && !cgPath.startsWith(root + '/')) return null;
  const rel = cgPath.slice(root.length).replace(/^\/+/, '');
  return rel === '' ? mountPoint : path.join(mountPoint, rel);
}

function statfsType(p: string): number | null {
  try {
    return Number(fs.statfsSync(p).type);
  } catch {
    return null;
  }
}

export function detectCgroups(opts: DetectOptions = {}): CgroupEnv {
  const notes: string[] = [];
  let mountinfoText = opts.mountinfo;
  if (mountinfoText === undefined) {
    try {
      mountinfoText = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    } catch (e) {
      notes.push(`cannot read /proc/self/mountinfo: ${errMessage(e)}`);
      mountinfoText = '';
    }
  }
  let selfText = opts.procSelfCgroup;
  if (selfText === undefined) {
    try {
      selfText = fs.readFileSync('/proc/self/cgroup', 'utf8');
    } catch (e) {
      notes.push(`cannot read /proc/self/cgroup: ${errMessage(e)}`);
      selfText = '';
    }
  }
  const mounts = parseMountInfo(mountinfoText);
  const self = parseProcCgroup(selfText);
  const selfV2 = self.find((e) => e.hierarchyId === 0 && e.controllers.length === 0) ?? null;

  const reachable = (m: MountInfoEntry, magic: number): boolean => {
    if (opts.skipStatfs) return true;
    const t = statfsType(m.mountPoint);
    if (t === magic) return true;
    notes.push(`${m.fsType} mount at ${m.mountPoint} is not reachable (hidden by another mount or gone); ignored`);
    return false;
  };

  let v2: V2Hierarchy | null = null;
  const v2Mounts = mounts.filter((m) => m.fsType === 'cgroup2' && reachable(m, CGROUP2_SUPER_MAGIC));
  // Prefer the canonical place, then a mount of the whole hierarchy.
  v2Mounts.sort((x, y) => rank(x) - rank(y));
  const v2m = v2Mounts[0];
  if (v2m) {
    const ctlText = readTextOrNull(path.join(v2m.mountPoint, 'cgroup.controllers'));
    const ownPath = selfV2?.path ?? null;
    v2 = {
      mountPoint: v2m.mountPoint,
      mountRoot: v2m.root,
      readOnly: v2m.mountOptions.includes('ro'),
      controllers: ctlText === null ? [] : ctlText.trim().split(/\s+/).filter(Boolean),
      ownPath,
      ownDir: ownPath === null ? null : cgroupPathToDir(v2m.mountPoint, v2m.root, ownPath),
    };
  }

  const v1: V1Hierarchy[] = [];
  const seen = new Set<string>();
  const v1Mounts = mounts.filter((m) => m.fsType === 'cgroup').sort((x, y) => rank(x) - rank(y));
  for (const m of v1Mounts) {
    const controllers = m.superOptions.filter((o) => V1_CONTROLLERS.has(o));
    if (controllers.length === 0) continue; // name=systemd and friends: not ours to use
    const key = [...controllers].sort().join(',');
    if (seen.has(key)) continue; // a second mount (bind) of the same hierarchy
    if (!reachable(m, CGROUP_SUPER_MAGIC)) continue;
    seen.add(key);
    const own = self.find((e) => e.hierarchyId !== 0 && controllers.every((c) => e.controllers.includes(c)));
    const ownPath = own?.path ?? null;
    v1.push({
      mountPoint: m.mountPoint,
      mountRoot: m.root,
      controllers,
      readOnly: m.mountOptions.includes('ro'),
      ownPath,
      ownDir: ownPath === null ? null : cgroupPathToDir(m.mountPoint, m.root, ownPath),
    });
  }

  const mode: CgroupMode = v1.length > 0 ? (v2 ? 'hybrid' : 'v1') : v2 ? 'v2' : 'none';
  const systemd = opts.systemd ?? fs.existsSync('/run/systemd/system');
  return Object.freeze({ mode, v2, v1, systemd, notes });
}

function rank(m: MountInfoEntry): number {
  let r = 0;
  if (m.root !== '/') r += 2;
  if (!m.mountPoint.startsWith('/sys/fs/cgroup')) r += 1;
  return r;
}

/** The logical resources the wrapper governs or accounts. */
export type Resource = 'cpu' | 'cpuacct' | 'memory' | 'io';

/** The v1 controller that provides a resource. */
export const V1_CONTROLLER: Record<Resource, string> = { cpu: 'cpu', cpuacct: 'cpuacct', memory: 'memory', io: 'blkio' };
/**
 * The v2 controller that provides a resource; `null` = built into every v2 cgroup
 * (`cpu.stat` usage_usec needs no controller).
 */
export const V2_CONTROLLER: Record<Resource, string | null> = { cpu: 'cpu', cpuacct: null, memory: 'memory', io: 'io' };

export type ResourceHome =
  | { readonly kind: 'v2'; readonly hierarchy: V2Hierarchy; readonly controller: string | null }
  | { readonly kind: 'v1'; readonly hierarchy: V1Hierarchy; readonly controller: string }
  | { readonly kind: 'none' };

/**
 * Which hierarchy provides a resource. A controller is bound to one hierarchy at a time, so
 * if v2's top cgroup lists it, it is v2's; otherwise the v1 hierarchy that has it. On a
 * hybrid host, `cpuacct` accounting comes from v1 when v1 has cpuacct.
 */
export function resourceHome(env: CgroupEnv, r: Resource): ResourceHome {
  const v2c = V2_CONTROLLER[r];
  if (env.v2 && v2c !== null && env.v2.controllers.includes(v2c)) return { kind: 'v2', hierarchy: env.v2, controller: v2c };
  const v1 = env.v1.find((h) => h.controllers.includes(V1_CONTROLLER[r]));
  if (v1) return { kind: 'v1', hierarchy: v1, controller: V1_CONTROLLER[r] };
  if (env.v2 && v2c === null && env.mode === 'v2') return { kind: 'v2', hierarchy: env.v2, controller: null };
  return { kind: 'none' };
}
