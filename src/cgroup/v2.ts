/**
 * cgroup v2 specifics: enabling controllers along the chain, writing limits, reading usage.
 *
 * Controllers must be enabled in `cgroup.subtree_control` of every cgroup from the
 * hierarchy's top down to the job leaf's PARENT (never the leaf: the no-internal-process
 * rule says a cgroup that distributes controllers to children may not hold processes
 * itself, the top cgroup excepted; the leaf holds the workload).
 */
import * as path from 'node:path';
import { errnoCode, parseFlatKeyed, readTextOrNull, writeOnce, pageSize } from './fsutil';
import { formatCpuMax, IO_KEYS, type IoMax, type Limits } from './limits';
import type { LimitReportEntry, Usage } from '../model/cgroup-report';
import { UNIT_RE } from './root';
import { exact, memoryBytes, writeVerified, type ReadBack } from './write';

export interface EnableOutcome {
  readonly controller: string;
  readonly ok: boolean;
  /** The cgroup where enabling failed and why. */
  readonly failedAt?: string;
  readonly error?: string;
  readonly errno?: string;
}


/**
 * Makes `controller` available to children of `parentDir`: writes `+controller` into
 * `cgroup.subtree_control` of each cgroup from `mountPoint` down to `parentDir` that lacks
 * it. Cgroups that already have it are not written. When systemd runs, a unit's cgroup
 * (`*.slice` etc.) above `ownedFrom` that lacks it is not touched: it is systemd's, so we
 * report instead. `ownedFrom` (the job root) and below are ours: the root planner has already
 * refused roots inside units that are not delegated to us.
 */
export function enableController(mountPoint: string, parentDir: string, controller: string, systemd: boolean, ownedFrom: string = parentDir): EnableOutcome {
  const rel = path.relative(mountPoint, parentDir);
  const chain = [mountPoint, ...(rel === '' ? [] : rel.split(path.sep).map((_, i, a) => path.join(mountPoint, ...a.slice(0, i + 1))))];
  for (const dir of chain) {
    const file = path.join(dir, 'cgroup.subtree_control');
    let current: string | null;
    try {
      current = readTextOrNull(file);
    } catch (e) {
      return { controller, ok: false, failedAt: dir, errno: errnoCode(e), error: `cannot read ${file}: ${errnoCode(e)}` };
    }
    if (current === null) return { controller, ok: false, failedAt: dir, errno: 'ENOENT', error: `${file} does not exist` };
    if (current.trim().split(/\s+/).includes(controller)) continue;
    const ours = dir === ownedFrom || dir.startsWith(ownedFrom + '/');
    if (systemd && !ours && UNIT_RE.test(path.basename(dir))) {
      return { controller, ok: false, failedAt: dir, errno: 'EPERM', error: `${controller} is not enabled in systemd's ${dir} and we do not change systemd's cgroups (delegate the controller)` };
    }
    const avail = readTextOrNull(path.join(dir, 'cgroup.controllers'));
    if (avail !== null && !avail.trim().split(/\s+/).includes(controller)) {
      return { controller, ok: false, failedAt: dir, errno: 'ENOENT', error: `${controller} is not available in ${dir} (not in its cgroup.controllers: bound to a v1 hierarchy, or not delegated)` };
    }
    try {
      writeOnce(file, `+${controller}`);
    } catch (e) {
      const code = errnoCode(e);
      const why =
        code === 'EBUSY'
          ? `${dir} holds processes, and the no-internal-process rule forbids enabling controllers for its children (move them into a leaf; with systemd use DelegateSubgroup=)`
          : code === 'EOPNOTSUPP'
            ? `${dir} is a threaded or invalid domain cgroup`
            : code === 'EACCES' || code === 'EPERM' || code === 'EROFS'
              ? `not allowed to write ${file} (${code})`
              : `writing +${controller} to ${file} failed (${code})`;
      return { controller, ok: false, failedAt: dir, errno: code, error: why };
    }
  }
  return { controller, ok: true };
}

/** Writes the requested v2 limits into `leaf`. One entry per file. */
export function applyV2Limits(leaf: string, limits: Limits, which: { cpu: boolean; memory: boolean; io: boolean }, skipMemory?: string): LimitReportEntry[] {
  const out: LimitReportEntry[] = [];
  if (which.cpu && limits.cpuMax) {
    const v = formatCpuMax(limits.cpuMax);
    out.push(writeVerified('cpu.max', path.join(leaf, 'cpu.max'), v, exact(v)));
  }
  if (which.cpu && limits.cpuWeight !== undefined) {
    const v = String(limits.cpuWeight);
    out.push(writeVerified('cpu.weight', path.join(leaf, 'cpu.weight'), v, exact(v)));
  }
  if (which.memory && limits.memoryMax !== undefined && skipMemory === undefined) {
    const v = String(limits.memoryMax);
    out.push(writeVerified('memory.max', path.join(leaf, 'memory.max'), v, memoryBytes(limits.memoryMax, pageSize())));
  }
  if (which.io && limits.io) {
    for (const dev of limits.io) {
      const v = [dev.device, ...IO_KEYS.filter((k) => dev[k] !== undefined).map((k) => `${k}=${dev[k]}`)].join(' ');
      out.push(writeVerified('io.max', path.join(leaf, 'io.max'), v, ioReadBack(dev)));
    }
  }
  return out;
}

/** io.max lists one line per limited device; a device with every key at max has no line. */
export function ioReadBack(dev: IoMax): ReadBack {
  return (text) => {
    const line = text.split('\n').find((l) => l.startsWith(dev.device + ' '));
    const got = new Map<string, string>();
    for (const kv of (line ?? '').split(/\s+/).slice(1)) {
      const [k, v] = kv.split('=');
      if (k && v) got.set(k, v);
    }
    const effective = line?.trim() ?? `${dev.device} (no line: no limits)`;
    for (const k of IO_KEYS) {
      const want = dev[k];
      if (want === undefined) continue;
      const have = got.get(k) ?? 'max';
      if (have !== String(want)) return { effective, ok: false, why: `io.max ${k} for ${dev.device} is ${have}, requested ${want}` };
    }
    return { effective, ok: true };
  };
}

/** Usage of a v2 leaf: cpu.stat usage_usec, memory.peak (5.19+), memory.events oom_kill. */
export function readV2Usage(leaf: string): { cpu_seconds: number | null; memory_peak_bytes: number | null; oom_kills: number | null } {
  const num = (f: string): number | null => {
    try {
      const t = readTextOrNull(path.join(leaf, f));
      return t === null || !/^\d+\s*$/.test(t) ? null : Number(t.trim());
    } catch {
      return null;
    }
  };
  const keyed = (f: string, k: string): number | null => {
    try {
      const t = readTextOrNull(path.join(leaf, f));
      return t === null ? null : parseFlatKeyed(t).get(k) ?? null;
    } catch {
      return null;
    }
  };
  const usec = keyed('cpu.stat', 'usage_usec');
  return { cpu_seconds: usec === null ? null : usec / 1e6, memory_peak_bytes: num('memory.peak'), oom_kills: keyed('memory.events', 'oom_kill') };
}

export type { Usage };
