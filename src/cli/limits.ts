/** The cgroup flags → what the core takes (loaded by `run` and `attach` only). */
import type { GovernanceOptions } from '../core/governance';
import { parseLimits } from '../cgroup/limits';
import type { CgroupFlagValues } from './options';

/** Flag values → cgroup governance. Throws UsageError. */
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
