/**
 * Governance on real cgroups, driven the way users drive it: through the core's run() and
 * attach(), journaled into a real journal. The same suite runs on this host's v1/hybrid
 * hierarchies (test/cgroup/real.test.ts) and on pure v2 inside the VM
 * (test/cgroup-v2/v2.test.ts); the few differences are asserted per mode.
 *
 * Everything lives under a private `ffrtmp-test-<run>-<hex>` root in each hierarchy and is
 * removed in afterAll, pass or fail (and the global teardown fails the run if it is not).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { JobCgroup } from '../../src/cgroup/job';
import { parseLimits, type LimitFlags } from '../../src/cgroup/limits';
import { attach } from '../../src/core/attach';
import { run } from '../../src/core/run';
import { Journal } from '../../src/journal/journal';
import type { JobRecorder, StartedRecord } from '../../src/journal/types';
import { UsageError } from '../../src/model/errors';
import type { Result } from '../../src/model/result';
import { selectObserver } from '../../src/observer/select';
import { recover } from '../../src/recover/recover';
import { killQuietly, testTempDir, waitFor } from '../helpers';
import { cleanupRoot, descendants, dirsOf, nothingUnder, sleepMs, testRootName } from './support';
import type { CgroupEnv } from '../../src/cgroup/detect';

/** Leaves of the job that `started` names, as they are while the job runs. */
interface Watched {
  recorder: JobRecorder;
  started: Promise<StartedRecord>;
}

export interface GovernedSuiteOptions {
  env: CgroupEnv;
  /** The directory `--cgroup-root` names for the suite's private root. */
  rootFor(rel: string): string;
  /** How many instant workloads per limit flag (fewer under emulation). */
  instantRuns: number;
}

export function governedSuite(name: string, { env, rootFor, instantRuns }: GovernedSuiteOptions): void {
  const v2 = env.mode === 'v2';

  describe(name, () => {
    const rel = testRootName();
    const root = rootFor(rel);
    const stateDir = testTempDir('governed-state');
    const journal = new Journal({ dir: stateDir });
    const procs: ChildProcess[] = [];
    const pids: number[] = [];

    afterEach(() => {
      for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
      for (const p of pids.splice(0)) killQuietly(p);
    });
    // Stand-ins for a service's cgroup live beside the job root, not under it.
    const svcRel = `${rel}-svc`;
    afterAll(async () => {
      fs.rmSync(stateDir, { recursive: true, force: true });
      for (const r of [rel, svcRel]) {
        expect(await cleanupRoot(env, r)).toEqual([]);
        expect(nothingUnder(env, r)).toBe(true);
      }
    });

    /** A cgroup of the test's own standing in for a service's (in the memory hierarchy on v1). */
    function standInService(name: string): string {
      const dir = path.join(dirsOf(env, svcRel).find((d) => v2 || d.includes('/memory/'))!, name);
      fs.mkdirSync(dir, { recursive: true });
      return dir;
    }

    const governance = (flags: LimitFlags) => ({ limits: parseLimits(flags), cgroupRoot: root, env });

    /** A journal recorder that also hands over the started record (the leaves, while the job runs). */
    function watched(): Watched {
      const inner = journal.recorder();
      let resolve!: (s: StartedRecord) => void;
      const started = new Promise<StartedRecord>((r) => (resolve = r));
      const recorder: JobRecorder = {
        claim: (j) => inner.claim(j),
        release: (ids) => inner.release(ids),
        openJobs: () => inner.openJobs(),
        started: (s) => {
          inner.started(s);
          resolve(s);
        },
        detached: (d) => inner.detached(d),
        finished: (r, id) => inner.finished(r, id),
        exitFileFor: (id) => inner.exitFileFor(id),
        governed: (id, leaves) => inner.governed(id, leaves),
      };
      return { recorder, started };
    }

    /** A process that is not ours to govern until attach: spawned by the test (libuv reaps it). */
    async function foreign(args: string[]): Promise<ChildProcess> {
      const p = spawn(args[0]!, args.slice(1), { stdio: 'ignore' });
      procs.push(p);
      await new Promise((r) => p.once('spawn', r));
      return p;
    }

    const cgroupOf = (pid: number): string => fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
    /** The job cgroups of one job id (`<job-id>.<run-id>` below the suite's root), in every hierarchy. */
    const leavesOf = (jobId: string): string[] =>
      dirsOf(env, rel).flatMap((d) => (fs.existsSync(d) ? fs.readdirSync(d).filter((n) => n.startsWith(`${jobId}.`)).map((n) => path.join(d, n)) : []));
    const leafCount = (): number => dirsOf(env, rel).reduce((n, d) => n + (fs.existsSync(d) ? fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).length : 0), 0);

    it(`a workload that exits at once under a limit is compliant (${instantRuns} runs per limit flag)`, async () => {
      const dev = fs.readdirSync('/sys/dev/block').find((x) => !fs.existsSync(`/sys/dev/block/${x}/partition`) && !/^(7|1):/.test(x));
      const flags: LimitFlags[] = [{ cpuQuota: '50' }, { cpuMax: '20000 100000' }, { cpuWeight: '300' }, { memoryMax: '64M' }, ...(dev ? [{ ioMax: `${dev} wbps=10485760` }] : [])];
      const reasons = new Map<string, number>();
      for (const f of flags) {
        for (let i = 0; i < instantRuns; i++) {
          const fail = i % 2 === 1;
          const r = await run({ command: fail ? 'false' : 'true', jobId: `instant-${i}`, governance: governance(f) });
          const key = `${Object.keys(f)[0]}:${r.platform_sla_reason}`;
          reasons.set(key, (reasons.get(key) ?? 0) + 1);
          if (!r.platform_sla_compliant) expect.fail(`${JSON.stringify(f)} run ${i}: ${r.platform_sla_reason}: ${JSON.stringify(r.cgroup?.problems)}`);
          expect(r.platform_sla_reason).toBe(fail ? 'workload_failed_platform_ok' : 'completed_successfully');
        }
      }
      expect([...reasons.values()].reduce((a, b) => a + b, 0)).toBe(flags.length * instantRuns);
      expect(leafCount()).toBe(0);
    }, 120_000);

    it('every limit written, read back and reported; usage read; leaves removed', async () => {
      const r = await run({ command: 'sh', args: ['-c', 'i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done'], jobId: 'limits', governance: governance({ cpuMax: '50000 100000', cpuWeight: '250', memoryMax: `${64 * 1024 * 1024 + 100}` }), recorder: journal.recorder() });
      expect(r.platform_sla_reason, JSON.stringify(r.cgroup)).toBe('completed_successfully');
      expect(r.cgroup!.problems).toEqual([]);
      const byFile = Object.fromEntries(r.cgroup!.limits.map((e) => [path.basename(e.file), e]));
      if (v2) {
        expect(r.cgroup!.leaves).toHaveLength(1);
        expect(r.cgroup!.placement).toBe('clone_into_cgroup');
        expect(byFile['cpu.max']).toMatchObject({ applied: true, effective: '50000 100000' });
        expect(byFile['cpu.weight']).toMatchObject({ applied: true, effective: '250' });
        expect(byFile['memory.max']).toMatchObject({ applied: true, requested: String(64 * 1024 * 1024 + 100), effective: String(64 * 1024 * 1024) });
        // Controllers are enabled down to the root, never in the leaf (which holds the workload).
        expect(fs.readFileSync(path.join(root, 'cgroup.subtree_control'), 'utf8')).toMatch(/cpu/);
      } else {
        expect(r.cgroup!.placement).toBe('cgroup_procs');
        expect(byFile['cpu.cfs_period_us']).toMatchObject({ applied: true, effective: '100000', converted_from: 'cpu.max=50000 100000' });
        expect(byFile['cpu.cfs_quota_us']).toMatchObject({ applied: true, effective: '50000' });
        expect(byFile['cpu.shares']).toMatchObject({ applied: true, effective: '2560', converted_from: 'cpu.weight=250' });
        expect(byFile['memory.limit_in_bytes']).toMatchObject({ applied: true, effective: String(64 * 1024 * 1024) });
      }
      expect(r.usage!.cpu_seconds).toBeGreaterThan(0);
      expect(r.usage!.oom_kills).toBe(0);
      expect(r.cgroup!.removal).toEqual({ removed: true, left: [] });
      for (const leaf of r.cgroup!.leaves) expect(fs.existsSync(leaf.dir)).toBe(false);
    });

    it('a CPU quota of 20% throttles a busy loop to ~0.2 CPU seconds per second', async () => {
      const w = watched();
      const pending = run({ command: 'timeout', args: ['3', 'sh', '-c', 'while :; do :; done'], jobId: 'cpu20', governance: governance({ cpuQuota: '20' }), recorder: w.recorder });
      const started = await w.started;
      const cpuLeaf = started.leaves!.find((d) => v2 || d.includes('/cpu/'))!;
      await sleepMs(2000);
      const throttled = Number(/nr_throttled (\d+)/.exec(fs.readFileSync(path.join(cpuLeaf, 'cpu.stat'), 'utf8'))![1]);
      const r = await pending;
      expect(r.exit_code).toBe(124); // timeout's own status: the workload's business
      expect(r.platform_sla_reason).toBe('workload_failed_platform_ok');
      const ratio = r.usage!.cpu_seconds! / r.processing_seconds;
      // The quota is a ceiling (0.2 plus a period of slack). On a loaded host (or under TCG)
      // the loop may get less, so the floor is loose and the kernel's throttle counter proves
      // that the quota, not the host, held it back.
      expect(ratio).toBeLessThan(0.25);
      expect(ratio).toBeGreaterThan(0.05);
      expect(throttled).toBeGreaterThan(0);
    });

    it('the leaves are named to the recorder before any exists: a wrapper killed while creating them leaves nothing the sweep does not know', async () => {
      let named: readonly string[] = [];
      let existedWhenNamed = true;
      const job = JobCgroup.create({
        jobId: 'planned', runId: 'abcdef0123456789', limits: parseLimits({ memoryMax: '64M', cpuWeight: '50' }), mode: 'run', cgroupRoot: root, env,
        onPlanned: (dirs) => {
          named = dirs;
          existedWhenNamed = dirs.some((d) => fs.existsSync(d));
        },
      });
      try {
        expect(named.length).toBeGreaterThan(0);
        expect(existedWhenNamed).toBe(false);
        expect([...named].sort()).toEqual(job.leafDirs().sort()); // exactly what was then created
      } finally {
        await job.remove();
      }
    });

    it("a memory limit OOM-kills an allocator: the workload's own failure, with oom_kills >= 1", async () => {
      const w = watched();
      const pending = run({ command: process.execPath, args: ['-e', 'const a=[];setTimeout(()=>{for(;;)a.push(Buffer.alloc(1<<20,1))},700)'], jobId: 'mem96', governance: governance({ memoryMax: '96M' }), recorder: w.recorder });
      const started = await w.started;
      // The keeper shares the leaf (born there), so the OOM killer could pick it: it lowered its
      // oom_score_adj as far as it may, and the workload has the one it was started with.
      const keeperPid = started.keeper!.pid;
      const adj = (pid: number) => Number(fs.readFileSync(`/proc/${pid}/oom_score_adj`, 'utf8'));
      const inLeaf = fs.readFileSync(path.join(started.cgroup!, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number); // the memory leaf
      expect(inLeaf).toContain(keeperPid);
      const keeperAdj = adj(keeperPid);
      expect(keeperAdj).toBeLessThanOrEqual(adj(process.pid));
      if (process.geteuid?.() === 0 && v2) expect(keeperAdj).toBe(-1000); // root in the guest may
      const r = await pending;
      // the keeper was not the one killed: it recorded the workload's death
      expect(r).toMatchObject({ signal: 'SIGKILL', exit_source: 'keeper', keeper: { pid: keeperPid } });
      expect(r.keeper!.problem).toBeUndefined();
      expect(r.platform_sla_reason).toBe('workload_failed_platform_ok');
      expect(r.usage!.oom_kills).toBeGreaterThanOrEqual(1);
      if (r.usage!.memory_peak_bytes !== null) {
        expect(r.usage!.memory_peak_bytes).toBeGreaterThan(64 * 1024 * 1024);
        expect(r.usage!.memory_peak_bytes).toBeLessThanOrEqual(96 * 1024 * 1024);
      }
    });

    it('a workload that forks at once has every descendant inside; a leaf a straggler keeps is swept once it is empty', async () => {
      const w = watched();
      const pending = run({ command: 'sh', args: ['-c', 'sleep 30 & sleep 30 & (sleep 30 &); exec sleep 30'], jobId: 'forker', governance: governance({ cpuWeight: '50', memoryMax: '256M' }), recorder: w.recorder });
      const started = await w.started;
      // (sleep 30 &) in a subshell is reparented away from the tree: find it by session (its
      // keeper's, which is in the leaf too, or the workload's own without one).
      const session = started.keeper?.pid ?? started.pid;
      // The live processes of the session: `/proc/<pid>/stat` fields after the comm are state,
      // ppid, pgrp, session. An exiting subshell (a zombie, or dying) is not in cgroup.procs on v2:
      // count only what lives.
      const stat = (p: number): { comm: string; state: string; session: number } | null => {
        try {
          const raw = fs.readFileSync(`/proc/${p}/stat`, 'latin1');
          const f = raw.slice(raw.lastIndexOf(') ') + 2).split(' ');
          return { comm: raw.slice(raw.indexOf('(') + 1, raw.lastIndexOf(')')), state: f[0]!, session: Number(f[3]) };
        } catch {
          return null; // gone
        }
      };
      const sleepsOfSession = (): number[] => {
        const candidates = new Set([started.pid, ...descendants(started.pid)]);
        for (const p of fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x)).map(Number)) if (stat(p)?.session === session) candidates.add(p);
        candidates.delete(started.keeper?.pid ?? -1);
        const live = [...candidates].filter((p) => {
          const st = stat(p);
          return st !== null && st.comm === 'sleep' && st.state !== 'Z' && st.state !== 'X';
        });
        pids.push(...live.filter((p) => !pids.includes(p)));
        return live;
      };
      // The shell forks three sleeps, then execs the fourth: wait until exactly those four live
      // (under software emulation that takes far longer than on the host), not for a fixed time.
      const all = await waitFor(() => {
        const now = sleepsOfSession();
        return now.length === 4 && now.includes(started.pid) && now;
      }, 20_000);
      expect(all).toHaveLength(4);
      for (const leaf of started.leaves!) {
        const inside = fs.readFileSync(path.join(leaf, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
        for (const p of all) expect(inside, `${p} in ${leaf}`).toContain(p);
      }
      // The workload ends while a straggler lives on in its leaves: they cannot be removed yet.
      const straggler = all.find((p) => p !== started.pid)!;
      for (const p of all) if (p !== straggler) killQuietly(p);
      const r = await pending;
      expect(r.cgroup!.removal!.removed).toBe(false);
      expect(r.cgroup!.removal!.left[0]).toMatchObject({ reason: 'processes remain in it', pids: [straggler] });
      killQuietly(straggler);
      // Once the straggler is gone (PID 1 reaps it in its own time), the sweep removes them.
      let report;
      for (let i = 0; i < 300; i++) {
        report = await recover({ stateDir });
        if (report.swept!.leavesLeft.length === 0) break;
        await sleepMs(100);
      }
      expect(report!.swept!.leavesLeft).toEqual([]);
      for (const leaf of started.leaves!) expect(fs.existsSync(leaf)).toBe(false);
    });

    it('attach without limits touches nothing: the process stays in its own cgroups, no leaf, no usage', async () => {
      // Its MemoryMax (say) must keep applying to it: nothing may move it out.
      const service = standInService('observed.service');
      try {
        const p = await foreign(['sleep', '30']);
        fs.writeFileSync(path.join(service, 'cgroup.procs'), String(p.pid));
        const before = cgroupOf(p.pid!);
        const ac = new AbortController();
        const pending = attach({ pids: [p.pid!], jobIds: ['observe-only'], governance: { cgroupRoot: root, env }, signal: ac.signal, recorder: journal.recorder() });
        await sleepMs(300);
        expect(cgroupOf(p.pid!)).toBe(before);
        expect(leavesOf('observe-only')).toEqual([]); // no job cgroup was created
        p.kill('SIGKILL');
        const [r] = await pending;
        expect(r!.platform_sla_reason).toBe('observed_to_completion');
        expect(r!.usage).toBeUndefined();
        expect(r!.cgroup).toBeUndefined();
      } finally {
        await cleanupDir(service);
      }
    });

    it('attach with limits moves only into their hierarchies, names what it left, and removes its leaves after the exit', async () => {
      const service = standInService('app.service');
      try {
        const p = await foreign(['sleep', '2']);
        fs.writeFileSync(path.join(service, 'cgroup.procs'), String(p.pid));
        const w = watched();
        const pending = attach({ pids: [p.pid!], jobIds: ['attach-mem'], governance: governance({ memoryMax: '256M' }), recorder: w.recorder });
        const started = await w.started;
        const cg = cgroupOf(p.pid!);
        expect(cg).toContain(`/${rel}/attach-mem.${started.run_id}`);
        if (!v2) {
          // Only the memory hierarchy: its cpu and cpuacct cgroups are untouched.
          expect(started.leaves!.every((d) => d.includes('/memory/'))).toBe(true);
          expect(cg).not.toMatch(new RegExp(`:cpu[^\\n]*${rel}`));
        }
        expect(started.cgroup_report!.moved_from).toEqual([expect.objectContaining({ path: expect.stringContaining('/app.service'), unit: 'app.service' })]);
        const [r] = await pending;
        expect(r!.platform_sla_reason).toBe('observed_to_completion');
        expect(r!.cgroup!.placement).toBe('attach');
        expect(r!.usage!.since).toBe('attach');
        expect(r!.cgroup!.removal!.removed).toBe(true);
        for (const leaf of started.leaves!) expect(fs.existsSync(leaf)).toBe(false);
      } finally {
        await cleanupDir(service);
      }
    });

    it("attach refuses a memory limit at or below the process's current usage, and applies the rest", async () => {
      const p = await foreign([process.execPath, '-e', 'setTimeout(()=>{}, 30000)']);
      await sleepMs(300);
      const ac = new AbortController();
      const w = watched();
      const pending = attach({ pids: [p.pid!], jobIds: ['attach-small'], governance: governance({ memoryMax: '8M', cpuWeight: '200' }), signal: ac.signal, recorder: w.recorder });
      const started = await w.started;
      const report = started.cgroup_report!;
      const mem = report.limits.find((e) => e.limit === 'memory.max')!;
      expect(mem.applied).toBe(false);
      expect(mem.error).toMatch(/refused: .*VmRSS/);
      expect(report.limits.find((e) => e.limit === 'cpu.weight')).toMatchObject({ applied: true, effective: v2 ? '200' : '2048' });
      p.kill('SIGKILL');
      const [r] = await pending;
      expect(r!.platform_sla_reason).toBe('memory_limit_below_usage');
    });

    it('attach to a zombie: observed at once, nothing moved, no violation', async () => {
      // A zombie: the background sleep's parent execs into a long sleep and never waits.
      const parent = await foreign(['sh', '-c', 'sleep 0.05 & exec sleep 30']);
      const state = (pid: number | undefined) => (pid === undefined ? undefined : fs.readFileSync(`/proc/${pid}/stat`, 'latin1').split(') ')[1]![0]);
      // (a fixed wait is not enough under emulation: wait for the state itself)
      const zombie = await waitFor(() => { const z = descendants(parent.pid!)[0]; return state(z) === 'Z' ? z : undefined; }, 30_000);
      // Its parent never reaps it, so its status never exists: a short reap grace ends the wait.
      const observer = selectObserver({ reapGraceMs: 200 });
      const [r] = await attach({ pids: [zombie], jobIds: ['zombie'], governance: governance({ cpuWeight: '10' }), recorder: journal.recorder(), observer });
      expect(r!.platform_sla_reason).toBe('observed_to_completion');
      expect(r!.cgroup!.problems.filter((p) => p.violation)).toEqual([]);
      expect(r!.cgroup!.removal!.removed).toBe(true);
    });

    it('run without limits: accounting leaves only, usage measured, no violation possible', async () => {
      const r = await run({ command: 'sh', args: ['-c', 'i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done'], jobId: 'acct', governance: { cgroupRoot: root, env }, recorder: journal.recorder() });
      expect(r.platform_sla_reason).toBe('completed_successfully');
      expect(r.cgroup!.limits).toEqual([]);
      if (!v2) expect(r.cgroup!.leaves.map((l) => l.controllers.join(',')).sort()).toEqual(expect.arrayContaining(['cpuacct', 'memory']));
      expect(r.usage!.cpu_seconds).toBeGreaterThan(0.01);
      expect(r.usage!.memory_peak_bytes === null || r.usage!.memory_peak_bytes > 0).toBe(true);
      expect(r.usage!.oom_kills).toBe(0);
    });

    it('a leaf is never reused: each run of a job id has its own, and an existing one is refused untouched', async () => {
      const a = await run({ command: 'sh', args: ['-c', 'i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done'], jobId: 'dup', governance: governance({ memoryMax: '64M' }), recorder: journal.recorder() });
      const b = await run({ command: 'true', jobId: 'dup', governance: governance({ memoryMax: '64M' }), recorder: journal.recorder() });
      const dirsA = a.cgroup!.leaves.map((l) => l.dir);
      const dirsB = b.cgroup!.leaves.map((l) => l.dir);
      expect(dirsA.filter((d) => dirsB.includes(d))).toEqual([]);
      expect(b.usage!.cpu_seconds!).toBeLessThan(a.usage!.cpu_seconds!); // not the earlier run's numbers
      // A directory already there under the name of a run is someone else's: never taken over.
      const runId = '00000000000000aa';
      const planted = path.join(dirsOf(env, rel).find((d) => v2 || d.includes('/memory/'))!, `dup.${runId}`);
      fs.mkdirSync(planted);
      try {
        const job = JobCgroup.create({ jobId: 'dup', runId, limits: parseLimits({ memoryMax: '64M' }), mode: 'run', cgroupRoot: root, env });
        expect(job.violation()).toBe('cgroup_placement_failed');
        expect(job.problems.map((p) => p.detail).join()).toMatch(/never reused/);
        expect(job.leaves.find((l) => l.dir === planted)).toMatchObject({ created: false, usable: false });
        await job.remove();
        expect(fs.existsSync(planted)).toBe(true); // not ours: not removed either
      } finally {
        fs.rmdirSync(planted);
      }
    });

    it('bad job ids and bad limits are rejected before anything is created', async () => {
      for (const id of ['../escape', 'a/b', '', '.', '..', 'x'.repeat(129), 'tab\there', 'nul\0', 'cgroup.procs', 'tasks']) {
        await expect(run({ command: 'true', jobId: id, governance: { cgroupRoot: root, env } })).rejects.toBeInstanceOf(UsageError);
      }
      await expect(run({ command: 'true', governance: { cgroupRoot: 'relative', env } })).rejects.toBeInstanceOf(UsageError);
      for (const flags of [{ cpuMax: '1 100000' }, { cpuQuota: '0' }, { cpuWeight: '0' }, { memoryMax: '12Q' }, { ioMax: '999:999 rbps=1' }]) {
        expect(() => parseLimits(flags)).toThrow(UsageError);
      }
      for (const top of dirsOf(env, rel)) expect(fs.existsSync(path.join(path.dirname(top), 'escape'))).toBe(false);
    });

    it('an io limit lands in io.max (v2) or the blkio hierarchy (v1)', async () => {
      const dev = fs.readdirSync('/sys/dev/block').find((x) => !fs.existsSync(`/sys/dev/block/${x}/partition`) && !/^(7|1):/.test(x));
      const hasIo = v2 ? fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('io') : env.v1.some((h) => h.controllers.includes('blkio'));
      if (!dev || !hasIo) {
        console.warn('SKIPPED io limit: no whole disk or no io controller here');
        return;
      }
      const r = await run({ command: 'true', jobId: 'io', governance: governance({ ioMax: `${dev} rbps=1048576 wiops=100` }), recorder: journal.recorder() });
      const io = r.cgroup!.limits.filter((e) => e.limit === 'io.max');
      if (v2) expect(io.map((e) => path.basename(e.file))).toEqual(['io.max']);
      else expect(io.map((e) => path.basename(e.file)).sort()).toEqual(['blkio.throttle.read_bps_device', 'blkio.throttle.write_iops_device']);
      for (const e of io) expect(e, JSON.stringify(e)).toMatchObject({ applied: true });
      expect(r.platform_sla_reason).toBe('completed_successfully');
    });
  });

  /** Kill what the test put in a stand-in cgroup of its own and remove it. */
  async function cleanupDir(dir: string): Promise<void> {
    for (let i = 0; i < 100 && fs.existsSync(dir); i++) {
      for (const p of fs.readFileSync(path.join(dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number)) killQuietly(p);
      try {
        fs.rmdirSync(dir);
      } catch {
        await sleepMs(50);
      }
    }
  }
}

export type { Result };
