/**
 * Real cgroup v2 (run inside the VM, see test/cgroup-v2/vitest.config.mts).
 * Skipped unless /sys/fs/cgroup is a v2 mount whose cgroup.controllers lists cpu and memory.
 * Everything lives under /sys/fs/cgroup/ffrtmp-test-<hex> and is removed in afterAll.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { JobCgroup } from '../../src/cgroup/job';
import { parseLimits, type Limits } from '../../src/cgroup/limits';
import { selectObserver } from '../../src/observer/select';
import type { SpawnedChild } from '../../src/observer/types';
import { cleanupRoot, descendants, hostEnv, isRoot, nothingUnder, sleepMs, testRootName, endTestProcessesAndJobs } from '../cgroup/support';

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
const d = usable ? describe : describe.skip;

d('cgroup library on real cgroup v2', () => {
  const env = hostEnv();
  const rel = testRootName();
  const root = path.join('/sys/fs/cgroup', rel);
  const observer = selectObserver();
  const started: (SpawnedChild | ChildProcess)[] = [];
  const jobs: JobCgroup[] = [];

  afterEach(() => endTestProcessesAndJobs(started, jobs));
  afterAll(async () => {
    expect(await cleanupRoot(env, rel)).toEqual([]);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  function create(jobId: string, limits: Limits, mode: 'run' | 'attach' = 'run', cgroupRoot = root): JobCgroup {
    const job = JobCgroup.create({ jobId, limits, mode, cgroupRoot, env });
    jobs.push(job);
    return job;
  }

  async function runIn(job: JobCgroup, command: string, args: string[]): Promise<SpawnedChild> {
    const placement = job.placementForRun({ cloneIntoCgroup: true });
    try {
      let child: SpawnedChild;
      try {
        child = await observer.spawn({ command, args, cwd: null, env: process.env, placement });
      } catch (e) {
        if ((e as { syscall?: string }).syscall !== 'clone3' || placement.cgroupFd < 0) throw e;
        job.notePlacementFallback((e as Error).message);
        child = await observer.spawn({ command, args, cwd: null, env: process.env, placement: { cgroupFd: -1, cgroupProcsPaths: placement.fallbackProcsPaths } });
      }
      started.push(child);
      return child;
    } finally {
      placement.close();
    }
  }

  it('detects pure v2', () => {
    expect(env.mode).toBe('v2');
    expect(env.v1).toEqual([]);
  });

  it('enables controllers along the chain (never in the leaf) and verifies every limit', () => {
    const dev = fs.readdirSync('/sys/dev/block').find((x) => !fs.existsSync(`/sys/dev/block/${x}/partition`) && !/^(7|1):/.test(x));
    const job = create('limits', parseLimits({ cpuMax: '50000 100000', cpuWeight: '250', memoryMax: `${64 * 1024 * 1024 + 100}`, ...(dev && ctl.includes('io') ? { ioMax: `${dev} rbps=1048576 wiops=max` } : {}) }));
    expect(job.problems).toEqual([]);
    const leaf = job.leaves[0]!;
    expect(job.leaves.length).toBe(1);
    expect(fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8')).toMatch(/cpu/);
    expect(fs.readFileSync(path.join(leaf.dir, 'cgroup.subtree_control'), 'utf8').trim()).toBe('');
    const byFile = Object.fromEntries(job.limitEntries.map((e) => [path.basename(e.file), e]));
    expect(byFile['cpu.max']).toMatchObject({ applied: true, effective: '50000 100000' });
    expect(byFile['cpu.weight']).toMatchObject({ applied: true, effective: '250' });
    // memory.max is rounded down to a page: applied, with both values recorded.
    expect(byFile['memory.max']).toMatchObject({ applied: true, requested: String(64 * 1024 * 1024 + 100), effective: String(64 * 1024 * 1024) });
    if (byFile['io.max']) expect(byFile['io.max']).toMatchObject({ applied: true });
  });

  it('run: CLONE_INTO_CGROUP places the child at birth; a 20% quota throttles it', async () => {
    const job = create('cpu20', parseLimits({ cpuQuota: '20' }));
    const child = await runIn(job, 'sh', ['-c', 'while :; do :; done']);
    // Linux 5.7+ with the addon: born inside (no cgroup.procs write at all).
    if (observer.backend === 'pidfd') expect(child.intoCgroup).toBe(true);
    expect(job.placement).toBe(child.intoCgroup ? 'clone_into_cgroup' : 'cgroup_procs');
    expect(job.verifyMembership(child.pid)).toEqual([]);
    await sleepMs(300);
    const c0 = job.readUsage().cpu_seconds!;
    const t0 = performance.now();
    await sleepMs(3000);
    const ratio = (job.readUsage().cpu_seconds! - c0) / ((performance.now() - t0) / 1000);
    // The quota is a ceiling (0.2 plus a period of slack). On a loaded host (or under TCG)
    // the loop may get less, so the floor is loose and the kernel's own throttle counter proves
    // that the quota, not the host, held it back.
    expect(ratio).toBeLessThan(0.25);
    expect(ratio).toBeGreaterThan(0.05);
    const stat = fs.readFileSync(path.join(job.leaves[0]!.dir, 'cpu.stat'), 'utf8');
    expect(Number(/nr_throttled (\d+)/.exec(stat)![1])).toBeGreaterThan(0);
  });

  it('memory.max OOM-kills an allocator: memory.events oom_kill and memory.peak', async () => {
    const job = create('mem', parseLimits({ memoryMax: '96M' }));
    const child = await runIn(job, process.execPath, ['-e', 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))']);
    const exit = await child.watch.exited;
    expect(exit.status.signal).toBe('SIGKILL');
    const u = job.readUsage();
    expect(u.oom_kills).toBeGreaterThanOrEqual(1);
    expect(u.memory_peak_bytes === null || u.memory_peak_bytes > 64 * 1024 * 1024).toBe(true);
    expect((await job.remove()).removed).toBe(true);
  });

  it('a forking workload keeps every descendant in the leaf', async () => {
    const job = create('fork', parseLimits({ memoryMax: '256M' }));
    const child = await runIn(job, 'sh', ['-c', 'sleep 30 & sleep 30 & exec sleep 30']);
    await sleepMs(300);
    const inside = fs.readFileSync(path.join(job.leaves[0]!.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
    for (const p of [child.pid, ...descendants(child.pid)]) expect(inside).toContain(p);
  });

  it('attach moves a running process and verifies it', async () => {
    const proc = spawn('sleep', ['30'], { stdio: 'ignore' });
    started.push(proc);
    await new Promise((r) => proc.once('spawn', r));
    const adopted = observer.attach(proc.pid!);
    try {
      const job = JobCgroup.create({ jobId: 'attach', limits: parseLimits({ memoryMax: '128M' }), mode: 'attach', cgroupRoot: root, env, attachPid: proc.pid! });
      jobs.push(job);
      expect(await job.attach({ pid: proc.pid!, pidfd: adopted.pidfd >= 0 ? adopted.pidfd : null })).toEqual({ status: 'attached', details: [] });
      expect(fs.readFileSync(`/proc/${proc.pid}/cgroup`, 'utf8')).toContain(`0::/${rel}/attach`);
    } finally {
      adopted.watch.close();
    }
  });

  it('the no-internal-process rule: a root that holds a process cannot distribute controllers (EBUSY, reported)', async () => {
    const busy = path.join(root, 'busy');
    fs.mkdirSync(busy);
    const proc = spawn('sleep', ['30'], { stdio: 'ignore' });
    started.push(proc);
    await new Promise((r) => proc.once('spawn', r));
    fs.writeFileSync(path.join(busy, 'cgroup.procs'), String(proc.pid));
    const job = create('inner', parseLimits({ memoryMax: '64M' }), 'run', busy);
    expect(job.violation()).toBe('limit_not_applied');
    expect(job.problems.map((p) => p.detail).join()).toMatch(/no-internal-process/);
  });
});
