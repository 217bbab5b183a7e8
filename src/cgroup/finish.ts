/**
 * The end of a job's cgroups: read the usage (before anything is removed: the numbers vanish
 * with rmdir), then remove the leaves, or leave them to a workload that lives on.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RemovalReport, Usage } from '../model/cgroup-report';
import { errnoCode, readPids, sleep } from './fsutil';
import type { LeafState } from './types';
import { readV1CpuSeconds, readV1Memory } from './v1';
import { readV2Usage } from './v2';

/** CPU seconds, peak memory, OOM kills of everything that ran in the leaves. */
export function readUsage(leaves: readonly LeafState[], mode: 'run' | 'attach'): Usage {
  let cpu: number | null = null;
  let peak: number | null = null;
  let oom: number | null = null;
  for (const leaf of leaves.filter((l) => l.usable || l.created || l.adopted)) {
    if (leaf.kind === 'v2') {
      const u = readV2Usage(leaf.dir);
      if (leaf.resources.includes('cpuacct') || leaf.resources.includes('cpu')) cpu ??= u.cpu_seconds;
      if (leaf.resources.includes('memory')) {
        peak ??= u.memory_peak_bytes;
        oom ??= u.oom_kills;
      }
    } else {
      if (leaf.controllers.includes('cpuacct')) cpu ??= readV1CpuSeconds(leaf.dir);
      if (leaf.controllers.includes('memory')) {
        const m = readV1Memory(leaf.dir);
        peak ??= m.memory_peak_bytes;
        oom ??= m.oom_kills;
      }
    }
  }
  return Object.freeze({ cpu_seconds: cpu, memory_peak_bytes: peak, oom_kills: oom, since: mode === 'attach' ? 'attach' : 'start' });
}

/**
 * Removes every leaf we created or took over. rmdir is retried on EBUSY for a moment (the last
 * task may still be leaving); if processes remain, the leaf stays and the report says so (the
 * processes keep their limits).
 */
export async function removeLeaves(leaves: readonly LeafState[], opts: { attempts?: number; delayMs?: number } = {}): Promise<RemovalReport> {
  const attempts = opts.attempts ?? 10;
  const delayMs = opts.delayMs ?? 20;
  const left: { dir: string; reason: string; pids?: number[] }[] = [];
  for (const leaf of leaves.filter((l) => l.created || l.adopted)) {
    for (let i = 0; ; i++) {
      try {
        fs.rmdirSync(leaf.dir);
        break;
      } catch (e) {
        const code = errnoCode(e);
        if (code === 'ENOENT') break;
        if (code === 'EBUSY' && i + 1 < attempts) {
          await sleep(delayMs);
          continue;
        }
        const pids = readPids(path.join(leaf.dir, 'cgroup.procs')) ?? [];
        left.push({ dir: leaf.dir, reason: code === 'EBUSY' ? (pids.length > 0 ? 'processes remain in it' : 'busy (child cgroups or exiting tasks)') : `rmdir failed: ${code}`, ...(pids.length > 0 ? { pids } : {}) });
        break;
      }
    }
  }
  return Object.freeze({ removed: left.length === 0, left });
}

/** Detach: the workload lives on in its cgroup, so the leaves stay. */
export function leaveLeaves(leaves: readonly LeafState[]): RemovalReport {
  return Object.freeze({
    removed: false,
    left: leaves.filter((l) => l.created || l.adopted).map((l) => ({ dir: l.dir, reason: 'detached: the workload still lives here' })),
  });
}
