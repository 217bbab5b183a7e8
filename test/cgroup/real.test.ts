/**
 * Real cgroups on this machine (root; v1 or hybrid: the controllers live in v1 hierarchies),
 * driven through run() and attach(): test/cgroup/governed-suite.ts. The pure-v2 run of the same
 * suite is test/cgroup-v2/v2.test.ts, inside the VM.
 */
import { describe } from 'vitest';
import { governedSuite } from './governed-suite';
import { hostEnv, isRoot, rootFlagFor } from './support';

const env = hostEnv();
const v1Usable = isRoot && (env.mode === 'v1' || env.mode === 'hybrid') && ['cpu', 'cpuacct', 'memory'].every((c) => env.v1.some((h) => h.controllers.includes(c)));

if (v1Usable) governedSuite('governance on real v1 cgroups', { env, rootFor: (rel) => rootFlagFor(env, rel), instantRuns: 100 });
else describe.skip('governance on real v1 cgroups (needs root and v1 cpu, cpuacct, memory)', () => undefined);
