/**
 * The cgroup flags shared by `run` and `attach` (docs/cgroups.md "Flags and files"). Values are
 * parsed by src/cgroup/limits.ts: an invalid one is a UsageError (exit 2) before anything starts.
 */
import type { Command } from 'commander';
import type { GovernanceOptions } from '../core/governance';
import { parseLimits } from '../cgroup/limits';
import { collect } from './options';

export interface CgroupFlagValues {
  cgroupRoot?: string;
  cpuMax?: string;
  cpuQuota?: string;
  cpuWeight?: string;
  memoryMax?: string;
  ioMax?: string[];
}

export function addCgroupOptions(cmd: Command): Command {
  return cmd
    .option('--cgroup-root <path>', 'parent of the job cgroups (default: v2 delegated own cgroup or /sys/fs/cgroup/ffrtmp; v1 <controller mount>/ffrtmp)')
    .option('--cpu-max <"quota period">', 'CPU bandwidth in µs, e.g. "50000 100000" or "max 100000" (cpu.max / cpu.cfs_*)')
    .option('--cpu-quota <percent>', 'CPU bandwidth in % of one CPU, e.g. 150 = 1.5 CPUs (exclusive with --cpu-max)')
    .option('--cpu-weight <1-10000>', 'relative CPU weight (cpu.weight / v1 cpu.shares = weight × 1024 / 100)')
    .option('--memory-max <bytes>', 'memory limit, bytes with optional K/M/G/T (binary), or max (memory.max / memory.limit_in_bytes)')
    .option('--io-max <"maj:min key=value...">', 'io limit for a whole disk: rbps= wbps= riops= wiops= (repeat per device)', collect);
}

/** Flag values → what the core takes. Throws UsageError. */
export function governanceFromFlags(v: CgroupFlagValues): GovernanceOptions {
  const limits = parseLimits({
    ...(v.cpuMax !== undefined ? { cpuMax: v.cpuMax } : {}),
    ...(v.cpuQuota !== undefined ? { cpuQuota: v.cpuQuota } : {}),
    ...(v.cpuWeight !== undefined ? { cpuWeight: v.cpuWeight } : {}),
    ...(v.memoryMax !== undefined ? { memoryMax: v.memoryMax } : {}),
    ...(v.ioMax !== undefined ? { ioMax: v.ioMax } : {}),
  });
  return { limits, ...(v.cgroupRoot !== undefined ? { cgroupRoot: v.cgroupRoot } : {}) };
}
