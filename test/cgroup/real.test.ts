/**
 * Real cgroups on this machine (root; v1 or hybrid: the controllers live in v1 hierarchies).
 * Everything is created under a private `ffrtmp-test-<hex>` root in each hierarchy and
 * removed in afterAll, even when a test fails. The processes are started the way `run`
 * starts them: the native spawn with the job's placement (the child writes its own PID into
 * each `cgroup.procs` before exec).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { UsageError } from '../../src/model/errors';
import { JobCgroup } from '../../src/cgroup/job';
import { parseLimits, type Limits } from '../../src/cgroup/limits';
import { selectObserver } from '../../src/observer/select';
import type { ExitObserver, SpawnedChild } from '../../src/observer/types';
import { cleanupRoot, descendants, hostEnv, isRoot, nothingUnder, rootFlagFor, sleepMs, testRootName, endTestProcessesAndJobs } from './support';

const env = hostEnv();
const v1Usable = isRoot && (env.mode === 'v1' || env.mode === 'hybrid') && ['cpu', 'cpuacct', 'memory'].every((c) => env.v1.some((h) => h.controllers.includes(c)));
const d = v1Usable ? describe : describe.skip;

d('cgroup library on real v1 cgroups', () => {
  const rel = testRootName();
  const root = rootFlagFor(env, rel);
  let observer: ExitObserver;
  const started: (SpawnedChild | ChildProcess)[] = [];
  const jobs: JobCgroup[] = [];

  beforeAll(() => {
    observer = selectObserver();
  });
  afterEach(() => endTestProcessesAndJobs(started, jobs));
  afterAll(async () => {
    expect(await cleanupRoot(env, rel)).toEqual([]);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  function create(jobId: string, limits: Limits, mode: 'run' | 'attach' = 'run', attachPid?: number): JobCgroup {
    const job = JobCgroup.create({ jobId, limits, mode, cgroupRoot: root, env, ...(attachPid !== undefined ? { attachPid } : {}) });
    jobs.push(job);
    return job;
  }

  async function runIn(job: JobCgroup, command: string, args: string[]): Promise<SpawnedChild> {
    const placement = job.placementForRun({ cloneIntoCgroup: true });
    try {
      const child = await observer.spawn({ command, args, cwd: null, env: process.env, placement });
      started.push(child);
      job.notePlacementErrors(child.placementFailures.map((f) => ({ index: placement.cgroupProcsPaths.indexOf(f.path), errno: -f.error.errno })), placement.cgroupProcsPaths);
      return child;
    } finally {
      placement.close();
    }
  }

  it('a CPU quota of 20% throttles a busy loop to ~0.2 CPU seconds per second', async () => {
    const job = create('cpu20', parseLimits({ cpuQuota: '20' }));
    expect(job.problems).toEqual([]);
    expect(job.limitEntries.every((e) => e.applied)).toBe(true);
    const child = await runIn(job, 'sh', ['-c', 'while :; do :; done']);
    expect(job.verifyMembership(child.pid)).toEqual([]);
    await sleepMs(300);
    const c0 = job.readUsage().cpu_seconds!;
    const t0 = performance.now();
    await sleepMs(3000);
    const c1 = job.readUsage().cpu_seconds!;
    const wall = (performance.now() - t0) / 1000;
    const ratio = (c1 - c0) / wall;
    // The quota is a ceiling (0.2 plus a period of slack). On a loaded host the loop may get
    // less, so the floor is loose and the kernel's throttle counter proves the quota held it.
    expect(ratio).toBeLessThan(0.25);
    expect(ratio).toBeGreaterThan(0.05);
    const cpuLeaf = job.leaves.find((l) => l.controllers.includes('cpu'))!.dir;
    expect(Number(/nr_throttled (\d+)/.exec(fs.readFileSync(path.join(cpuLeaf, 'cpu.stat'), 'utf8'))![1])).toBeGreaterThan(0);
    process.kill(-child.pid, 'SIGKILL');
    await child.watch.exited;
    const removal = await job.remove();
    expect(removal).toEqual({ removed: true, left: [] });
    for (const leaf of job.leaves) expect(fs.existsSync(leaf.dir)).toBe(false);
  });

  it('a memory limit OOM-kills an allocator, and usage shows oom_kill >= 1', async () => {
    const job = create('mem96', parseLimits({ memoryMax: '96M' }));
    expect(job.problems).toEqual([]);
    const mem = job.limitEntries.find((e) => e.limit === 'memory.max')!;
    expect(mem).toMatchObject({ applied: true, requested: String(96 * 1024 * 1024), effective: String(96 * 1024 * 1024) });
    expect(mem.file).toMatch(/\/memory\/.*\/mem96\/memory\.limit_in_bytes$/);
    const child = await runIn(job, process.execPath, ['-e', 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))']);
    const exit = await child.watch.exited;
    expect(exit.status.signal).toBe('SIGKILL');
    const usage = job.readUsage();
    expect(usage.oom_kills).toBeGreaterThanOrEqual(1);
    expect(usage.memory_peak_bytes).toBeGreaterThan(64 * 1024 * 1024);
    expect(usage.memory_peak_bytes).toBeLessThanOrEqual(96 * 1024 * 1024);
    expect(job.violation()).toBeNull(); // its own limit: the workload's failure, not ours
    expect((await job.remove()).removed).toBe(true);
  });

  it('a workload that forks at once has every descendant inside the job cgroup', async () => {
    const job = create('forker', parseLimits({ cpuWeight: '50', memoryMax: '256M' }));
    const child = await runIn(job, 'sh', ['-c', 'sleep 30 & sleep 30 & (sleep 30 &); exec sleep 30']);
    await sleepMs(300);
    const all = [child.pid, ...descendants(child.pid)];
    // (sleep 30 &) in a subshell is reparented away from the tree: find it by session.
    const sid = fs.readFileSync(`/proc/${child.pid}/stat`, 'latin1').split(') ')[1]!.split(' ')[3];
    for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x)).map(Number)) {
      try {
        const st = fs.readFileSync(`/proc/${p}/stat`, 'latin1').split(') ')[1]!.split(' ');
        if (st[3] === sid && !all.includes(p)) all.push(p);
      } catch {
        /* gone */
      }
    }
    expect(all.length).toBeGreaterThanOrEqual(4);
    for (const leaf of job.leaves) {
      const inside = fs.readFileSync(path.join(leaf.dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
      for (const p of all) expect(inside, `${p} in ${leaf.dir}`).toContain(p);
    }
    process.kill(-child.pid, 'SIGKILL');
    await child.watch.exited;
    // The orphaned sleep is reaped by PID 1 whenever it gets round to it: wait for that.
    const removal = await job.remove({ attempts: 200, delayMs: 50 });
    expect(removal.removed).toBe(true);
  });

  it('attach moves a running process into every hierarchy and verifies it through the pidfd', async () => {
    const proc = spawn('sleep', ['30'], { stdio: 'ignore' });
    started.push(proc);
    await new Promise((r) => proc.once('spawn', r));
    const adopted = observer.attach(proc.pid!);
    try {
      const job = create('attach1', parseLimits({ memoryMax: '256M', cpuQuota: '50' }), 'attach', proc.pid);
      expect(job.problems).toEqual([]);
      const out = await job.attach({ pid: proc.pid!, pidfd: adopted.pidfd >= 0 ? adopted.pidfd : null });
      expect(out).toEqual({ status: 'attached', details: [] });
      const cg = fs.readFileSync(`/proc/${proc.pid}/cgroup`, 'utf8');
      for (const leaf of job.leaves) expect(cg).toContain(`:/${rel}/attach1\n`);
      expect(job.readUsage().since).toBe('attach');
      // The process still lives there: a detach leaves the leaves; removal says why it can't.
      expect(job.leave().left.length).toBe(job.leaves.length);
      const busy = await job.remove({ attempts: 2, delayMs: 10 });
      expect(busy.removed).toBe(false);
      expect(busy.left[0]).toMatchObject({ reason: 'processes remain in it', pids: [proc.pid] });
      proc.kill('SIGKILL');
      await adopted.watch.exited;
      expect((await job.remove({ attempts: 50, delayMs: 20 })).removed).toBe(true);
    } finally {
      adopted.watch.close();
    }
  });

  it('attach refuses a memory limit at or below the process\'s current usage, and applies the rest', async () => {
    const proc = spawn(process.execPath, ['-e', 'setTimeout(()=>{}, 30000)'], { stdio: 'ignore' });
    started.push(proc);
    await new Promise((r) => proc.once('spawn', r));
    await sleepMs(300);
    const adopted = observer.attach(proc.pid!);
    try {
      const job = create('attach-small', parseLimits({ memoryMax: '8M', cpuWeight: '200' }), 'attach', proc.pid);
      expect(job.violation()).toBe('memory_limit_below_usage');
      const mem = job.limitEntries.find((e) => e.limit === 'memory.max')!;
      expect(mem.applied).toBe(false);
      expect(mem.error).toMatch(/refused: .*VmRSS/);
      expect(job.limitEntries.find((e) => e.limit === 'cpu.weight')).toMatchObject({ applied: true, effective: '2048' });
      expect((await job.attach({ pid: proc.pid!, pidfd: adopted.pidfd >= 0 ? adopted.pidfd : null })).status).toBe('attached');
      proc.kill('SIGKILL');
      await adopted.watch.exited;
    } finally {
      adopted.watch.close();
    }
  });

  it('attach to a process that already exited, or is a zombie, reports "exited" and moves nothing', async () => {
    // A zombie: the background sleep's parent execs into a long sleep and never waits.
    const parent = spawn('sh', ['-c', 'sleep 0.05 & exec sleep 30'], { stdio: 'ignore' });
    started.push(parent);
    await new Promise((r) => parent.once('spawn', r));
    await sleepMs(400);
    const zombie = descendants(parent.pid!)[0]!;
    expect(fs.readFileSync(`/proc/${zombie}/stat`, 'latin1').split(') ')[1]![0]).toBe('Z');
    const adoptedZ = observer.attach(zombie);
    const job = create('zombie', parseLimits({ cpuWeight: '10' }), 'attach', zombie);
    expect((await job.attach({ pid: zombie, pidfd: adoptedZ.pidfd >= 0 ? adoptedZ.pidfd : null })).status).toBe('exited');
    adoptedZ.watch.close();

    const quick = spawn('sleep', ['0.1'], { stdio: 'ignore' });
    await new Promise((r) => quick.once('spawn', r));
    const adopted = observer.attach(quick.pid!);
    await new Promise((r) => quick.once('exit', r)); // Node reaps it: the pidfd says Pid: -1
    await sleepMs(50);
    const job2 = create('gone', parseLimits({ cpuWeight: '10' }), 'attach');
    expect((await job2.attach({ pid: quick.pid!, pidfd: adopted.pidfd >= 0 ? adopted.pidfd : null })).status).toBe('exited');
    adopted.watch.close();
  });

  it('no limits: the leaves still account CPU and memory, and no violation is possible', async () => {
    const job = create('acct', parseLimits({}));
    expect(job.limitEntries).toEqual([]);
    expect(job.leaves.map((l) => l.controllers.join(',')).sort()).toEqual(expect.arrayContaining(['cpuacct', 'memory']));
    const child = await runIn(job, 'sh', ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done']);
    await child.watch.exited;
    const u = job.readUsage();
    expect(u.cpu_seconds).toBeGreaterThan(0.01);
    expect(u.memory_peak_bytes).toBeGreaterThan(0);
    expect(u.oom_kills).toBe(0);
    expect(job.violation()).toBeNull();
  });

  it('a leaf left over by an earlier run with the same id is reused when empty, untouched when in use', async () => {
    const a = create('dup', parseLimits({ cpuWeight: '100' }));
    const child = await runIn(a, 'sleep', ['30']);
    const b = create('dup', parseLimits({ cpuWeight: '300' }));
    expect(b.violation()).toBe('cgroup_placement_failed');
    expect(fs.readFileSync(path.join(a.leaves.find((l) => l.controllers.includes('cpu'))!.dir, 'cpu.shares'), 'utf8').trim()).toBe('1024');
    process.kill(-child.pid, 'SIGKILL');
    await child.watch.exited;
    const c = create('dup', parseLimits({ cpuWeight: '300' }));
    expect(c.violation()).toBeNull();
    expect(c.leaves.every((l) => l.reused)).toBe(true);
    expect(c.warnings.join()).toMatch(/reused/);
  });

  it('open(): a later process (recover) finds an orphan\'s leaves, reads its usage and removes them', async () => {
    const job = create('orphan', parseLimits({ memoryMax: '64M', cpuWeight: '100' }));
    const child = await runIn(job, 'sh', ['-c', 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done']);
    await child.watch.exited;
    const later = JobCgroup.open({ jobId: 'orphan', mode: 'run', cgroupRoot: root, env });
    expect(later.leaves.map((l) => l.dir).sort()).toEqual(job.leaves.map((l) => l.dir).sort());
    const u = later.readUsage();
    expect(u.cpu_seconds).toBeGreaterThan(0);
    expect(u.memory_peak_bytes).toBeGreaterThan(0);
    expect((await later.remove()).removed).toBe(true);
    expect(JobCgroup.open({ jobId: 'orphan', mode: 'run', cgroupRoot: root, env }).leaves).toEqual([]);
  });

  it('bad job ids and bad limits are rejected before anything is created', () => {
    for (const id of ['../escape', 'a/b', '', '.', '..', 'x'.repeat(129), 'tab\there', 'nul\0', 'cgroup.procs', 'tasks']) {
      expect(() => JobCgroup.create({ jobId: id, limits: {}, mode: 'run', cgroupRoot: root, env })).toThrow(UsageError);
    }
    expect(() => JobCgroup.create({ jobId: 'ok', limits: {}, mode: 'run', cgroupRoot: 'relative', env })).toThrow(UsageError);
    for (const flags of [{ cpuMax: '1 100000' }, { cpuQuota: '0' }, { cpuWeight: '0' }, { memoryMax: '0.5K' }, { ioMax: '999:999 rbps=1' }]) {
      expect(() => parseLimits(flags)).toThrow(UsageError);
    }
    // Nothing under our root except what earlier tests made (all removed by now).
    for (const h of env.v1) {
      const dir = path.join(h.mountPoint, rel);
      if (fs.existsSync(dir)) expect(fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)).not.toContain('..');
      expect(fs.existsSync(path.join(h.mountPoint, 'escape'))).toBe(false);
    }
  });

  it('a v1 io limit lands in the blkio hierarchy', () => {
    const dev = fs.readdirSync('/sys/dev/block').find((x) => !fs.existsSync(`/sys/dev/block/${x}/partition`) && !x.startsWith('7:'));
    if (!dev || !env.v1.some((h) => h.controllers.includes('blkio'))) return;
    const job = create('io', parseLimits({ ioMax: `${dev} rbps=1048576 wiops=100` }));
    const io = job.limitEntries.filter((e) => e.limit === 'io.max');
    expect(io.map((e) => path.basename(e.file)).sort()).toEqual(['blkio.throttle.read_bps_device', 'blkio.throttle.write_iops_device']);
    for (const e of io) expect(e, JSON.stringify(e)).toMatchObject({ applied: true });
  });
});
