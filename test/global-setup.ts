import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { detectCgroups } from '../src/cgroup/detect';
import { cleanupRoot } from './cgroup/support';

/**
 * One private cgroup root for the whole test run: every `ffrtmp run/attach` a test starts (and
 * every in-process run()) creates its job cgroups under it instead of the machine's default
 * `<controller>/ffrtmp`, and it is removed at the end. Tests that detach on purpose leave empty
 * job leaves behind (the workload was still inside when the wrapper let go): this is where they
 * are cleaned up. Only directories under our own root are touched.
 */
export default function setup(): (() => Promise<void>) | undefined {
  if (process.env.FFRTMP_CGROUP_ROOT) return undefined; // the caller chose one
  const env = detectCgroups();
  const rel = `ffrtmp-test-run-${process.pid}-${randomBytes(3).toString('hex')}`;
  const mem = env.v1.find((h) => h.controllers.includes('memory'));
  const base = mem?.mountPoint ?? env.v2?.mountPoint;
  if (base === undefined) return undefined; // no cgroups: the tests say so themselves
  process.env.FFRTMP_CGROUP_ROOT = path.join(base, rel);
  return async () => {
    const leftovers = await cleanupRoot(env, rel);
    if (leftovers.length > 0) console.warn(`test cgroups left behind:\n  ${leftovers.join('\n  ')}`);
  };
}
