/** The cgroup flags → what the core takes (loaded by `run` and `attach` only). */
import { availableParallelism } from 'node:os';
import type { GovernanceOptions } from '../core/governance';
import { limitWarnings, parseLimits } from '../cgroup/limits';
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

/**
 * The `ffrtmp: warning: ...` lines for limits that are valid but cannot bind on this host (a CPU
 * bandwidth above its CPUs, as os.availableParallelism() counts them). Printed once at start; the
 * limits are still written.
 */
export function limitWarningLines(governance: GovernanceOptions, cpus: number = availableParallelism()): string[] {
  return governance.limits ? limitWarnings(governance.limits, cpus).map((w) => `ffrtmp: warning: ${w}`) : [];
}
