/**
 * Real cgroup v2 (run inside the VM, see test/cgroup-v2/vitest.config.mts): the same governance
 * suite as on the v1 host (test/cgroup/governed-suite.ts), plus what only v2 has.
 * Skipped unless /sys/fs/cgroup is a v2 mount whose cgroup.controllers lists cpu and memory.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parseLimits } from '../../src/cgroup/limits';
import { run } from '../../src/core/run';
import { governedSuite } from '../cgroup/governed-suite';
import { cleanupRoot, hostEnv, isRoot, nothingUnder, testRootName } from '../cgroup/support';

function v2Controllers(): string[] {
  try {
    return fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
}
const ctl = v2Controllers();
const usable = isRoot && ctl.includes('cpu') && ctl.includes('memory');
if (!usable) console.warn(`cgroup-v2 tests skipped: /sys/fs/cgroup/cgroup.controllers = ${JSON.stringify(ctl)} (needs cpu and memory, as root)`);
const env = hostEnv();

if (usable) governedSuite('governance on real cgroup v2', { env, rootFor: (rel) => path.join('/sys/fs/cgroup', rel), instantRuns: 10 });

(usable ? describe : describe.skip)('what only cgroup v2 has', () => {
  const rel = testRootName();
  const root = path.join('/sys/fs/cgroup', rel);
  afterAll(async () => {
    expect(await cleanupRoot(env, rel)).toEqual([]);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  it('detects pure v2', () => {
    expect(env.mode).toBe('v2');
    expect(env.v1).toEqual([]);
  });

  it('the no-internal-process rule: a root that holds a process cannot distribute controllers (EBUSY, reported)', async () => {
    const busy = path.join(root, 'busy');
    fs.mkdirSync(busy, { recursive: true });
    const proc = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await new Promise((r) => proc.once('spawn', r));
      fs.writeFileSync(path.join(busy, 'cgroup.procs'), String(proc.pid));
      const r = await run({ command: 'true', jobId: 'inner', governance: { limits: parseLimits({ memoryMax: '64M' }), cgroupRoot: busy, env } });
      expect(r.platform_sla_reason).toBe('limit_not_applied');
      expect(r.cgroup!.problems.map((p) => p.detail).join()).toMatch(/no-internal-process/);
    } finally {
      proc.kill('SIGKILL');
    }
  });
});
