import { defineConfig } from 'vitest/config';

// The cgroup v2 subset, excluded from the default run (this host's controllers are bound to
// v1). Run inside the VM (as .ci/run does):
//   test/vm/run-in-vm.sh -- node node_modules/vitest/vitest.mjs run --config test/cgroup-v2/vitest.config.mts
export default defineConfig({
  root: new URL('../..', import.meta.url).pathname,
  test: {
    include: ['test/cgroup-v2/**/*.test.ts'],
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
