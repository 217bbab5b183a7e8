import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectCgroups } from '../src/cgroup/detect';
import { cleanupRoot } from './cgroup/support';

/**
 * What the whole test run owns, and the proof that it leaves nothing behind:
 *
 * - one private cgroup root: every `ffrtmp run/attach` a test starts (and every in-process run())
 *   creates its job cgroups under it instead of the machine's default `<controller>/ffrtmp`;
 * - one private temp directory, which TMPDIR points at for every test process (and so for
 *   every ffrtmp and workload they start).
 *
 * Tests clean up after themselves. The teardown checks that they did: a job cgroup left under
 * the root or an entry left in the temp directory FAILS the run (after being removed, so one
 * failing run does not poison the next). Only what this run created is touched.
 */
export default function setup(): () => Promise<void> {
  const runTag = `${process.pid}-${randomBytes(3).toString('hex')}`;
  process.env.FFRTMP_TEST_RUN_TAG = runTag; // suites name their private cgroup roots after it

  const hostTmp = os.tmpdir();
  const tmp = fs.mkdtempSync(path.join(hostTmp, `ffrtmp-test-run-${runTag}-`));
  fs.chmodSync(tmp, 0o755); // the unprivileged-user tests read transpiled code from here
  process.env.TMPDIR = tmp;

  const env = detectCgroups();
  let rel: string | null = null;
  if (!process.env.FFRTMP_CGROUP_ROOT) {
    const mem = env.v1.find((h) => h.controllers.includes('memory'));
    const base = mem?.mountPoint ?? env.v2?.mountPoint;
    if (base !== undefined) {
      rel = `ffrtmp-test-run-${runTag}`;
      process.env.FFRTMP_CGROUP_ROOT = path.join(base, rel);
    }
  }

  return async () => {
    const problems: string[] = [];
    // The cgroup suites make private roots of their own (`ffrtmp-test-<run tag>-<hex>`, see
    // testRootName) at the top of each hierarchy: any still there at the end was leaked.
    const leakedRoots = suiteRoots(env, runTag);
    if (leakedRoots.length > 0) problems.push(`private cgroup roots of test suites left behind:\n  ${leakedRoots.join('\n  ')}`);
    if (rel !== null) {
      // Anything below the root itself is a job cgroup some test or product path left behind.
      const leaves = jobLeaves(env, rel);
      if (leaves.length > 0) problems.push(`job cgroups left behind:\n  ${leaves.join('\n  ')}`);
      const stuck = await cleanupRoot(env, rel);
      if (stuck.length > 0) problems.push(`cgroups that could not even be removed:\n  ${stuck.join('\n  ')}`);
    }
    const left = fs.readdirSync(tmp);
    if (left.length > 0) problems.push(`temp entries left behind in ${tmp}:\n  ${left.join('\n  ')}`);
    fs.rmSync(tmp, { recursive: true, force: true });
    if (problems.length > 0) {
      // vitest reports a throwing teardown but still exits 0: make the failure count.
      process.exitCode = 1;
      process.on('exit', () => {
        process.exitCode = 1;
      });
      throw new Error(`the test run did not clean up after itself:\n${problems.join('\n')}`);
    }
  };
}

function mountsOf(env: ReturnType<typeof detectCgroups>): string[] {
  return [...env.v1.map((h) => h.mountPoint), ...(env.v2 ? [env.v2.mountPoint] : [])];
}

function suiteRoots(env: ReturnType<typeof detectCgroups>, runTag: string): string[] {
  return mountsOf(env).flatMap((m) => {
    try {
      return fs.readdirSync(m).filter((n) => n.startsWith(`ffrtmp-test-${runTag}-`)).map((n) => path.join(m, n));
    } catch {
      return [];
    }
  });
}

function jobLeaves(env: ReturnType<typeof detectCgroups>, rel: string): string[] {
  const tops = mountsOf(env).map((m) => path.join(m, rel));
  return tops.flatMap((top) => {
    try {
      return fs.readdirSync(top, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => path.join(top, e.name));
    } catch {
      return [];
    }
  });
}
