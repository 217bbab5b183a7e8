/** Shared shapes of the cgroup report (serialised into the Result as they are). */
import type { Resource } from './detect';

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

/** One job directory in one hierarchy. */
export interface LeafState {
  readonly kind: 'v2' | 'v1';
  readonly mountPoint: string;
  readonly dir: string;
  /** v1: controllers of the hierarchy; v2: controllers we needed enabled for it. */
  readonly controllers: readonly string[];
  /** What this leaf is used for. */
  readonly resources: readonly Resource[];
  /** Carries at least one requested limit (placement failure here is a violation). */
  readonly governs: boolean;
  /** We made the directory (mkdir succeeded). */
  created: boolean;
  /** It existed, empty, and we took it over (a leftover of a crashed run with the same id). */
  reused: boolean;
  /** The directory exists and is ours to place processes in. */
  usable: boolean;
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
