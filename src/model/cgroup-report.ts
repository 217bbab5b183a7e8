/**
 * What a Result says about cgroups: the usage numbers and the governance report. These shapes
 * are serialised into the Result as they are, so they belong to the shared vocabulary; the
 * cgroup layer (src/cgroup/) fills them in.
 */

/** What is mounted: unified v2, legacy v1, both (hybrid), or nothing usable. */
export type CgroupMode = 'v2' | 'v1' | 'hybrid' | 'none';

/** How the parent of the job cgroups was chosen: `--cgroup-root`, a systemd delegation, or the default. */
export type CgroupRootSource = 'flag' | 'delegated' | 'default';

/** The limit a report entry belongs to, in v2 names even on v1. */
export type LimitName = 'cpu.max' | 'cpu.weight' | 'memory.max' | 'io.max';

/**
 * One interface file written for one limit. A limit is applied iff all its entries are.
 * `requested`/`effective` are in the file's own syntax (v1 `cpu.cfs_quota_us` takes `-1`
 * for "max"; v1 `cpu.shares` is converted from the weight, see `converted_from`).
 */
export interface LimitReportEntry {
  readonly limit: LimitName;
  readonly file: string;
  readonly requested: string;
  /** What the kernel reports after the write (read back), null when it could not be read. */
  readonly effective: string | null;
  readonly applied: boolean;
  /** Why not applied: the errno and what it means, or the mismatch. */
  readonly error?: string;
  /** The user's value before a v1 conversion, e.g. `cpu.weight=100`. */
  readonly converted_from?: string;
}

/** Why governance fell short. All of these are SLA violations when they touch a requested limit. */
export type CgroupReason =
  | 'cgroup_unavailable'
  | 'cgroup_permission_denied'
  | 'cgroup_not_delegated'
  | 'cgroup_placement_failed'
  | 'memory_limit_below_usage'
  | 'limit_not_applied';

/** Most specific / most severe first: the Result carries the first violation in this order. */
export const CGROUP_REASON_PRIORITY: readonly CgroupReason[] = [
  'cgroup_unavailable',
  'cgroup_not_delegated',
  'cgroup_permission_denied',
  'cgroup_placement_failed',
  'memory_limit_below_usage',
  'limit_not_applied',
];

/** The violation a Result carries for these problems: the first in CGROUP_REASON_PRIORITY, or null. */
export function violationOf(problems: readonly CgroupProblem[]): CgroupReason | null {
  for (const r of CGROUP_REASON_PRIORITY) if (problems.some((p) => p.violation && p.reason === r)) return r;
  return null;
}

export interface CgroupProblem {
  readonly reason: CgroupReason;
  readonly detail: string;
  readonly file?: string;
  /**
   * True when it costs a requested limit (an SLA violation). False for accounting-only
   * trouble: no limits requested and no cgroup possible is not a violation.
   */
  readonly violation: boolean;
}

export interface Usage {
  /** CPU time of everything that ran in the job cgroup, seconds (v2 cpu.stat usage_usec, v1 cpuacct.usage). */
  readonly cpu_seconds: number | null;
  /** Peak memory, bytes (v2 memory.peak: Linux 5.19+, v1 memory.max_usage_in_bytes). */
  readonly memory_peak_bytes: number | null;
  /** OOM kills inside the job cgroup (v2 memory.events oom_kill, v1 memory.oom_control oom_kill). */
  readonly oom_kills: number | null;
  /** For attach: counted from the attach on, not from the process start. */
  readonly since: 'start' | 'attach';
}

export interface RemovalReport {
  readonly removed: boolean;
  /** Leaves left in place, with why (processes remain, detach). */
  readonly left: readonly { readonly dir: string; readonly reason: string; readonly pids?: readonly number[] }[];
}

/** A cgroup an attached process left when it was moved into its job cgroup. */
export interface MovedFrom {
  /** The hierarchy: `v2`, or the v1 controllers (`memory`, `cpu`, `cpu,cpuacct`, ...). */
  readonly hierarchy: string;
  /** Its path in that hierarchy, as /proc/<pid>/cgroup showed it. */
  readonly path: string;
  /** The deepest systemd unit on that path (`nginx.service`), when there is one. */
  readonly unit?: string;
}

/** The Result's `cgroup` field: where the job was governed and how. */
export interface CgroupReport {
  readonly mode: CgroupMode;
  readonly root_source: CgroupRootSource;
  readonly leaves: readonly { kind: 'v2' | 'v1'; dir: string; controllers: readonly string[]; created: boolean }[];
  readonly placement: 'clone_into_cgroup' | 'cgroup_procs' | 'attach' | 'none';
  /**
   * attach only: the cgroups the process was moved out of, per hierarchy (`memory`, `cpu`, `v2`
   * ...), and the systemd unit when it left one: its limits no longer apply to the process.
   */
  readonly moved_from?: readonly MovedFrom[];
  readonly limits: readonly LimitReportEntry[];
  readonly problems: readonly CgroupProblem[];
  readonly warnings: readonly string[];
  readonly removal?: RemovalReport;
}
