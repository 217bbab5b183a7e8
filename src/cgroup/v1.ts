/**
 * cgroup v1 specifics: every limit goes into the leaf of ITS controller's hierarchy
 * (cpu → cpu, memory → memory, io → blkio; the original wrote memory into the cpu one).
 *
 * Conversions from our canonical v2 values:
 * - cpu.max "Q P" → `cpu.cfs_period_us` = P, then `cpu.cfs_quota_us` = Q (`max` → -1). The
 *   period goes first: a fresh leaf has quota -1, so any period is accepted.
 * - cpu.weight W → `cpu.shares` = clamp(round(W × 1024 / 100), 2, 262144). This is systemd's
 *   mapping (cgroup_cpu_weight_to_shares: weight × CGROUP_CPU_SHARES_DEFAULT /
 *   CGROUP_WEIGHT_DEFAULT) and the inverse of runc's original linear one at the default:
 *   weight 100 ↔ 1024 shares, 1 → 10, 10000 → 102400. (runc ≥ 1.3 and crun use a
 *   log-quadratic shares→weight curve for the other direction; we never convert that way.)
 * - memory.max B → `memory.limit_in_bytes` = B (`max` → -1); rounded down to pages.
 * - io.max "M:m rbps=X wbps=Y riops=Z wiops=W" → `blkio.throttle.{read,write}_{bps,iops}_device`
 *   lines "M:m X"; `max` → 0 (v1's "remove this limit").
 */
import * as path from 'node:path';
import { parseFlatKeyed, readTextOrNull, pageSize } from './fsutil';
import type { IoKey, Limits } from './limits';
import type { LimitReportEntry } from '../model/cgroup-report';
import { exact, memoryBytes, writeVerified, type ReadBack } from './write';

export const V1_SHARES_MIN = 2;
export const V1_SHARES_MAX = 262144;

/** systemd's CPUWeight= → CPUShares= mapping (see module comment). */
export function weightToShares(weight: number): number {
  return Math.min(V1_SHARES_MAX, Math.max(V1_SHARES_MIN, Math.round((weight * 1024) / 100)));
}

export function applyV1Cpu(leaf: string, limits: Limits): LimitReportEntry[] {
  const out: LimitReportEntry[] = [];
  if (limits.cpuMax) {
    const p = String(limits.cpuMax.periodUs);
    const q = limits.cpuMax.quotaUs === null ? '-1' : String(limits.cpuMax.quotaUs);
    const from = `cpu.max=${limits.cpuMax.quotaUs === null ? 'max' : limits.cpuMax.quotaUs} ${limits.cpuMax.periodUs}`;
    out.push(writeVerified('cpu.max', path.join(leaf, 'cpu.cfs_period_us'), p, exact(p), { converted_from: from }));
    out.push(writeVerified('cpu.max', path.join(leaf, 'cpu.cfs_quota_us'), q, exact(q), { converted_from: from }));
  }
  if (limits.cpuWeight !== undefined) {
    const s = String(weightToShares(limits.cpuWeight));
    out.push(writeVerified('cpu.weight', path.join(leaf, 'cpu.shares'), s, exact(s), { converted_from: `cpu.weight=${limits.cpuWeight}` }));
  }
  return out;
}

export function applyV1Memory(leaf: string, limits: Limits): LimitReportEntry[] {
  if (limits.memoryMax === undefined) return [];
  const v = limits.memoryMax === 'max' ? '-1' : String(limits.memoryMax);
  return [writeVerified('memory.max', path.join(leaf, 'memory.limit_in_bytes'), v, memoryBytes(limits.memoryMax, pageSize()), { converted_from: `memory.max=${limits.memoryMax}` })];
}

const BLKIO_FILE: Record<IoKey, string> = {
  rbps: 'blkio.throttle.read_bps_device',
  wbps: 'blkio.throttle.write_bps_device',
  riops: 'blkio.throttle.read_iops_device',
  wiops: 'blkio.throttle.write_iops_device',
};

export function applyV1Io(leaf: string, limits: Limits): LimitReportEntry[] {
  const out: LimitReportEntry[] = [];
  for (const dev of limits.io ?? []) {
    for (const k of Object.keys(BLKIO_FILE) as IoKey[]) {
      const want = dev[k];
      if (want === undefined) continue;
      const n = want === 'max' ? 0 : want;
      const rb: ReadBack = (text) => {
        const line = text.split('\n').find((l) => l.startsWith(dev.device + ' '));
        const have = line ? Number(line.trim().split(/\s+/)[1]) : 0;
        return { effective: line?.trim() ?? `${dev.device} (no line: no limit)`, ok: have === n };
      };
      out.push(writeVerified('io.max', path.join(leaf, BLKIO_FILE[k]), `${dev.device} ${n}`, rb, { converted_from: `io.max ${dev.device} ${k}=${want}` }));
    }
  }
  return out;
}

/** cpuacct.usage is in nanoseconds. */
export function readV1CpuSeconds(cpuacctLeaf: string): number | null {
  try {
    const t = readTextOrNull(path.join(cpuacctLeaf, 'cpuacct.usage'));
    return t === null || !/^\d+\s*$/.test(t) ? null : Number(t.trim()) / 1e9;
  } catch {
    return null;
  }
}

export function readV1Memory(memoryLeaf: string): { memory_peak_bytes: number | null; oom_kills: number | null } {
  let peak: number | null = null;
  let oom: number | null = null;
  try {
    const t = readTextOrNull(path.join(memoryLeaf, 'memory.max_usage_in_bytes'));
    if (t !== null && /^\d+\s*$/.test(t)) peak = Number(t.trim());
  } catch {
    /* null */
  }
  try {
    const t = readTextOrNull(path.join(memoryLeaf, 'memory.oom_control'));
    if (t !== null) oom = parseFlatKeyed(t).get('oom_kill') ?? null; // oom_kill line: Linux 4.13+
  } catch {
    /* null */
  }
  return { memory_peak_bytes: peak, oom_kills: oom };
}
