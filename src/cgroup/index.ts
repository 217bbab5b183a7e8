/**
 * The cgroup library: detection, limits, one job cgroup per job, placement, usage.
 * See docs/cgroups.md.
 */
export { detectCgroups, parseMountInfo, parseProcCgroup, resourceHome, type CgroupEnv, type CgroupMode, type Resource } from './detect';
export { parseLimits, hasLimits, formatCpuMax, formatIoLine, type Limits, type LimitFlags, type CpuMax, type IoMax } from './limits';
export { planRoots, delegationOf, DEFAULT_ROOT_NAME, type RootPlan, type XattrReader } from './root';
export { JobCgroup, leafNameFor, checkRootFlag, type CreateJobCgroupOptions, type RunPlacement, type AttachOutcome, type AttachStatus, type CgroupReport } from './job';
export { isGone, refWithoutPidfd, pidfdPid, type ProcessRef } from './procs';
export { weightToShares } from './v1';
export type { CgroupProblem, CgroupReason, LimitReportEntry, Usage, RemovalReport } from './types';
