/**
 * Moving a running process into its job's leaves (`attach`). The caller opened the process's
 * pidfd BEFORE calling, so the PID cannot be recycled under us. One write(2) per hierarchy;
 * EINVAL retried 3 × 30 ms (runc: a task still being created); then verification through the
 * pidfd and /proc/<pid>/cgroup.
 */
import * as path from 'node:path';
import type { CgroupReason } from '../model/cgroup-report';
import type { CgroupEnv } from './detect';
import { errnoCode, sleep, writeOnce } from './fsutil';
import type { CgroupLedger } from './ledger';
import { membershipMismatches } from './place';
import { isGone, type ProcessRef } from './procs';
import type { LeafState } from './types';

export type AttachStatus = 'attached' | 'partial' | 'exited' | 'failed' | 'not_needed';

export interface AttachOutcome {
  readonly status: AttachStatus;
  readonly details: readonly string[];
}

/** What an errno from a `cgroup.procs` write means. */
const MOVE_ERRNO: Readonly<Record<string, string>> = {
  EBUSY: 'EBUSY: the no-internal-process rule (the target distributes controllers to children)',
  EACCES: 'EACCES: no write permission on the target or on the common ancestor\'s cgroup.procs',
  EPERM: 'EPERM: not allowed to move this process (another user, or outside our delegation)',
  EROFS: 'EROFS: the cgroup filesystem is read-only',
  EINVAL: 'EINVAL after 3 retries: the kernel refuses to migrate this task (kernel thread, no_cgroup_migration, or still being created)',
  ENODEV: 'ENODEV: the job cgroup is being removed',
  ENOENT: 'ENOENT: the job cgroup is gone (removed by someone else?)',
  EOPNOTSUPP: 'EOPNOTSUPP: the target is not a valid domain cgroup (threaded)',
};

/** One cgroup.procs write, EINVAL retried. Returns '' on success, else the errno code. */
async function writePid(file: string, pid: number): Promise<string> {
  for (let attempt = 0; ; attempt++) {
    try {
      writeOnce(file, String(pid));
      return '';
    } catch (e) {
      const code = errnoCode(e);
      if (code !== 'EINVAL' || attempt === 3) return code;
      await sleep(30);
    }
  }
}

export async function moveInto(env: CgroupEnv, leaves: readonly LeafState[], ledger: CgroupLedger, ref: ProcessRef, limitsRequested: boolean): Promise<AttachOutcome> {
  const usable = leaves.filter((l) => l.usable);
  const details: string[] = [];
  if (usable.length === 0) return { status: leaves.length === 0 && !limitsRequested ? 'not_needed' : 'failed', details: ['no job cgroup to move into'] };
  if (isGone(ref)) return { status: 'exited', details: [`PID ${ref.pid} exited before the move (a zombie cannot be moved)`] };
  let moved = 0;
  for (const leaf of usable) {
    const file = path.join(leaf.dir, 'cgroup.procs');
    const code = await writePid(file, ref.pid);
    if (code === '') {
      moved++;
      continue;
    }
    if (code === 'ESRCH') return { status: 'exited', details: [...details, `PID ${ref.pid} exited during the move (ESRCH)`] };
    const detail = `moving PID ${ref.pid} into ${file} failed: ${MOVE_ERRNO[code] ?? code}`;
    details.push(detail);
    const reason: CgroupReason = code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'cgroup_permission_denied' : 'cgroup_placement_failed';
    ledger.trouble(leaf.governs, reason, detail, file);
    leaf.usable = false;
  }
  // Verify: still the same process (pidfd not reaped, not a zombie), then where it is, then the
  // pidfd again (what we read in /proc belonged to it).
  if (isGone(ref)) return { status: 'exited', details: [...details, `PID ${ref.pid} exited during the move`] };
  const mismatches = membershipMismatches(env, leaves, ref.pid);
  if (isGone(ref)) return { status: 'exited', details: [...details, `PID ${ref.pid} exited during verification`] };
  for (const m of mismatches) {
    details.push(m.detail);
    ledger.problem('cgroup_placement_failed', `after the move: ${m.detail}`, limitsRequested);
  }
  if (moved === usable.length && mismatches.length === 0) return { status: 'attached', details };
  return { status: moved > 0 ? 'partial' : 'failed', details };
}
