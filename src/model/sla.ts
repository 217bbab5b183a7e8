/**
 * Platform SLA reasons: "did the wrapper do its job?", never "did the workload succeed?".
 *
 * A workload that fails, crashes or is OOM-killed under its own limit is the workload's
 * business (compliant). A violation is something the platform itself failed to do: observe,
 * start, govern. The whole table is documented in docs/results.md, one row per reason, and
 * `test/core/sla.test.ts` walks every row.
 */
export const SLA_REASONS = {
  // ---- compliant -------------------------------------------------------------------------
  /** run: the workload exited with code 0. */
  completed_successfully: true,
  /** run: the workload exited non-zero or was killed by a signal; the wrapper observed it. */
  workload_failed_platform_ok: true,
  /** attach: the process ended and the wrapper observed the end (status may still be unknown). */
  observed_to_completion: true,
  /**
   * run/attach: the wrapper was told to stop (SIGINT/SIGTERM/SIGHUP); the workload keeps running.
   * Only on the line printed at the detach (and run()'s provisional return): it is never a
   * journaled Result, because the job is not over; its adopter records the end.
   */
  detached_workload_continues: true,
  /** run: the command could not be executed (ENOENT, EACCES, ENOEXEC, bad --workdir): the user's input, not the platform. */
  workload_not_startable: true,

  // ---- violations ------------------------------------------------------------------------
  /** run: starting the process failed for a platform reason (EAGAIN, ENOMEM, EMFILE ... on clone/fork/pipe). */
  spawn_failed_platform: false,
  /** run/attach: the exit watcher could not be installed (pidfd/epoll failed for a live process). */
  observer_unavailable: false,
  /** run: our own child's exit status could not be collected (waitid failed unexpectedly). */
  exit_status_lost: false,

  // ---- violations: cgroup governance (src/cgroup, docs/cgroups.md) ------------------------
  // Only when limits were requested: no limits and no cgroup possible is not a violation.
  // The Result's `cgroup` field names the file and the errno; the workload still runs.
  /** run/attach: limits were requested but no cgroup hierarchy is usable here (none mounted, hidden, or --cgroup-root not on a cgroup filesystem). */
  cgroup_unavailable: false,
  /** run/attach: creating the job cgroup or writing into it was refused (EACCES, EPERM, EROFS). */
  cgroup_permission_denied: false,
  /** run/attach: the cgroup root lies inside a systemd unit that is not delegated to us (Delegate=yes): we do not write into systemd's cgroups. */
  cgroup_not_delegated: false,
  /** run/attach: the workload could not be placed in (or was not found in) its job cgroup: cgroup.procs write failed, verification mismatch after an attach move, or the leaf's directory already existed (never taken over). */
  cgroup_placement_failed: false,
  /** attach: the memory limit is at or below the process's current usage (VmRSS), so it was refused rather than OOM-kill the workload at once. */
  memory_limit_below_usage: false,
  /** run/attach: a requested limit could not be written, or the kernel reports another value on read-back (the Result names the file). */
  limit_not_applied: false,
  /**
   * recover/serve (adoption): the wrapper that owned the job died, and when the job was adopted
   * its process was already gone (or its PID now belongs to another process, or its identity was
   * never recorded): nobody observed how it ended. Exit is `unknown`; end_time is when the
   * absence was detected. See docs/visibility.md §5.
   */
  exit_unobserved: false,
} as const satisfies Record<string, boolean>;

export type SlaReason = keyof typeof SLA_REASONS;

export function isCompliant(reason: SlaReason): boolean {
  return SLA_REASONS[reason];
}

export function isSlaReason(value: string): value is SlaReason {
  return Object.prototype.hasOwnProperty.call(SLA_REASONS, value);
}
