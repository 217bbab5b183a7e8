/**
 * The built CLI on real cgroup v2 (inside the VM): CLONE_INTO_CGROUP placement, verified
 * limits, usage from cpu.stat / memory.peak / memory.events, doctor's cgroup lines.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ffrtmp } from '../helpers';
import { cleanupRoot, hostEnv, isRoot, nothingUnder, testRootName } from '../cgroup/support';

const ctl = (() => {
  try {
    return fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').trim().split(/\s+/);
  } catch {
    return [];
  }
})();
const d = isRoot && ctl.includes('cpu') && ctl.includes('memory') && fs.existsSync(CLI) ? describe : describe.skip;

// Generous timeouts: under TCG emulation a node start alone takes seconds.
d('ffrtmp on cgroup v2 (built CLI)', { timeout: 300_000 }, () => {
  const env = hostEnv();
  const rel = testRootName();
  const root = path.join('/sys/fs/cgroup', rel);
  afterAll(async () => {
    expect(await cleanupRoot(env, rel)).toEqual([]);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  it('run: born in the leaf with CLONE_INTO_CGROUP, limits verified, usage, leaf removed', async () => {
    const r = await ffrtmp(['run', '--job-id', 'v2run', '--cgroup-root', root, '--cpu-max', '50000 100000', '--cpu-weight', '300', '--memory-max', '128M', '--json', '--', 'sh', '-c', 'i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done'], { timeoutMs: 240_000 });
    const res = JSON.parse(r.stderr.split('\n').filter((l) => l.startsWith('{')).pop()!);
    expect(res.platform_sla_reason, JSON.stringify(res.cgroup)).toBe('completed_successfully');
    expect(res.cgroup.mode).toBe('v2');
    expect(res.cgroup.placement).toBe('clone_into_cgroup');
    expect(res.cgroup.limits.map((l: { file: string }) => path.basename(l.file))).toEqual(['cpu.max', 'cpu.weight', 'memory.max']);
    expect(res.cgroup.limits.every((l: { applied: boolean }) => l.applied)).toBe(true);
    expect(res.usage.cpu_seconds).toBeGreaterThan(0);
    expect(res.usage.memory_peak_bytes).toBeGreaterThan(0);
    expect(res.usage.oom_kills).toBe(0);
    expect(res.cgroup.removal.removed).toBe(true);
  });

  it('doctor reports v2, CLONE_INTO_CGROUP and the controllers', () => {
    const r = spawnSync(process.execPath, [CLI, 'doctor', '--json'], { encoding: 'utf8', timeout: 240_000 });
    const diag = JSON.parse(r.stdout);
    const byName = Object.fromEntries(diag.checks.map((c: { name: string }) => [c.name, c]));
    expect(byName['cgroup mode'].detail).toMatch(/^v2/);
    expect(byName['CLONE_INTO_CGROUP'].ok).toBe(true);
    expect(byName['controller memory (memory.max, usage, OOM kills)'].ok).toBe(true);
  });
});
