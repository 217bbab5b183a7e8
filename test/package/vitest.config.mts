import { defineConfig } from 'vitest/config';

// The packed tarball, installed as a user would (test/package/package.test.ts). It needs current
// prebuilds for both arches (npm run build:prebuilds), so it is not part of npm test: run by
// test/ship/run.sh (which .ci/run calls).
export default defineConfig({
  root: new URL('../..', import.meta.url).pathname,
  test: {
    include: ['test/package/**/*.test.ts'],
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 240_000,
  },
});
