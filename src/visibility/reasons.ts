/**
 * The violating platform SLA reasons, as visibility names them: the `reason` label of
 * `ffrtmp_violations_total` and the fixed sentence a /violations entry falls back on
 * (docs/visibility.md §2 and §3).
 *
 * Derived from `SLA_REASONS` (src/model/sla.ts): a new violating reason there is a compile error
 * here until it has its sentence, and its counter series then exists from the start.
 */
import { SLA_REASONS, type SlaReason } from '../model/sla';

/** The reasons with `platform_sla_compliant: false`. */
export type ViolatingReason = { [K in SlaReason]: (typeof SLA_REASONS)[K] extends false ? K : never }[SlaReason];

/** The label for a violation whose reason is not a violating reason of this version. */
export const OTHER_REASON = 'other';

export type ReasonLabel = ViolatingReason | typeof OTHER_REASON;

/** One sentence per violating reason: what the platform failed to do (docs/results.md, "when"). */
const SENTENCES: Record<ReasonLabel, string> = {
  spawn_failed_platform: 'starting the process failed for a platform reason (clone3, fork or pipe2: EAGAIN, ENOMEM, EMFILE, ...)',
  observer_unavailable: 'the exit watcher could not be installed for a live process (pidfd_open or epoll_ctl failed): its end was not watched',
  exit_status_lost: 'the workload ended but its exit status could not be collected: waitid failed, someone else reaped it',
  exit_unobserved: 'the wrapper died and the process was already gone when it was adopted: nobody observed its end',
  cgroup_unavailable: 'limits were requested but no cgroup hierarchy is usable here: the workload ran ungoverned',
  cgroup_permission_denied: 'creating the job cgroup or writing into it was refused (EACCES, EPERM or EROFS)',
  cgroup_not_delegated: 'the cgroup root lies inside a systemd unit that is not delegated to ffrtmp (Delegate=yes): nothing was written there',
  cgroup_placement_failed: 'the workload could not be put into its job cgroup, or verification found it elsewhere',
  memory_limit_below_usage: "the memory limit is at or below the process's current memory use: it was refused rather than OOM-kill the workload at once",
  limit_not_applied: "a requested limit could not be written, or the kernel reports another value on read-back: the Result's cgroup.limits names the file",
  other: 'the platform SLA was violated for a reason this version of ffrtmp does not know: see the job\'s Result (ffrtmp jobs show)',
};

/** Every label of `ffrtmp_violations_total`, in SLA_REASONS order, `other` last. */
export const REASON_LABELS: readonly ReasonLabel[] = [
  ...(Object.keys(SLA_REASONS) as SlaReason[]).filter((r): r is ViolatingReason => !SLA_REASONS[r]),
  OTHER_REASON,
];

/**
 * The label for a violating Result's reason: the reason itself when it is a violating reason,
 * else `other` (a reason from a newer writer, or a journal line edited by hand). This keeps the
 * series bounded and their sum equal to `ffrtmp_platform_sla_total{compliant="false"}`.
 */
export function reasonLabel(reason: string): ReasonLabel {
  return Object.prototype.hasOwnProperty.call(SENTENCES, reason) ? (reason as ReasonLabel) : OTHER_REASON;
}

/** The fixed sentence for a reason (`other`'s for a reason that is not a violating one). */
export function reasonSentence(reason: string): string {
  return SENTENCES[reasonLabel(reason)];
}
