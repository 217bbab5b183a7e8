import { fork } from 'node:child_process';

import { defineConfig } from 'vitest/config';
import { ForksPoolWorker, type PoolOptions } from 'vitest/node';

// The native watch/spawn suites, run by the arm64 Node under qemu-user (test/arm64/run.sh sets
// it up; docs/shipping.md). Vitest itself (vite, its native bundler) runs on the machine's own
// Node; only the test workers, which load the addon, are the arm64 Node. Vitest's forks pool
// always forks process.execPath, so this pool is the forks pool with another execPath.
const arm64Node = process.env.FFRTMP_ARM64_NODE;
if (arm64Node === undefined || arm64Node === '') {
  throw new Error('FFRTMP_ARM64_NODE is not set: run this suite with test/arm64/run.sh');
}

class Arm64ForksPoolWorker extends ForksPoolWorker {
  override name = 'forks-arm64';
  private readonly opts: PoolOptions;
  constructor(options: PoolOptions) {
    super(options);
    this.opts = options;
  }
  override async start(): Promise<void> {
    const self = this as unknown as { _fork?: ReturnType<typeof fork>; entrypoint: string };
    self._fork ??= fork(self.entrypoint, [], {
      execPath: arm64Node,
      env: this.opts.env,
      execArgv: this.opts.execArgv,
      stdio: 'pipe',
      serialization: 'advanced',
    });
    await super.start();
  }
}

export default defineConfig({
  root: new URL('../..', import.meta.url).pathname,
  test: {
    include: [
      'test/native/watcher.test.ts',
      'test/native/spawn.test.ts',
      'test/native/keeper.test.ts',
      'test/native/lifetime.test.ts',
      'test/arm64/*.test.ts',
    ],
    pool: { name: 'forks-arm64', createPoolWorker: (options: PoolOptions) => new Arm64ForksPoolWorker(options) },
    globalSetup: ['test/global-setup.ts'],
    // Emulated: an instruction costs 5-20x, a Node start about 1 s.
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
