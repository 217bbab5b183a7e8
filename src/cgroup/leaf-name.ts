/** What a job cgroup may be called, and what `--cgroup-root` may be: checked before anything exists. */
import * as path from 'node:path';
import { UsageError } from '../model/errors';
import { validateJobId } from '../model/job-id';
import { RUN_ID_PATTERN } from '../model/run-id';
import { quote } from '../model/quote';

/** Names the kernel uses for interface files: a job leaf must never be called like one. */
const RESERVED_LEAF = /^((cgroup|cpu|cpuacct|cpuset|memory|io|blkio|pids|hugetlb|rdma|misc|devices|freezer|net_cls|net_prio|perf_event)\..*|notify_on_release|release_agent|tasks)$/;

/** Throws UsageError when `jobId` cannot name a job cgroup (nothing created). */
export function checkLeafJobId(jobId: string): void {
  validateJobId(jobId);
  if (RESERVED_LEAF.test(jobId)) {
    throw new UsageError(`job id ${quote(jobId)} looks like a cgroup interface file name (cgroup.*, cpu.*, memory.*, tasks, ...) and cannot name a job cgroup`);
  }
}

/**
 * One run of a job → its leaf directory name, `<job id>.<run id>`: unique per run, so a leaf is
 * never shared by two runs of one job id (a later run never inherits an earlier one's usage).
 * Throws UsageError (nothing created).
 */
export function leafNameFor(jobId: string, runId: string): string {
  checkLeafJobId(jobId);
  if (!RUN_ID_PATTERN.test(runId)) throw new UsageError(`run id ${quote(runId)} is not 16 hex digits`);
  return `${jobId}.${runId}`;
}

/** `--cgroup-root` must be an absolute, normalised path (UsageError otherwise). */
export function checkRootFlag(p: string): void {
  if (!path.isAbsolute(p) || p.includes('\0') || path.normalize(p).replace(/\/+$/, '') !== p.replace(/\/+$/, '') || p.split('/').includes('..')) {
    throw new UsageError(`--cgroup-root must be an absolute, normalised path without "..", e.g. /sys/fs/cgroup/ffrtmp; got ${quote(p)}`);
  }
}
