import { defineConfig } from 'vitest/config';

// Tests run real processes, real pidfds and real cgroups: forks (one process per file) keep a
// test file's children and signal handlers away from the others. Timing-sensitive suites
// (VM, benchmarks) are not here: they have their own scripts.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/vm/**', 'test/cgroup-v2/**', 'test/arm64/**', 'test/package/**', 'node_modules/**'],
    pool: 'forks',
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    reporters: ['default'],
  },
});
