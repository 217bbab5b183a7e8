/**
 * The cgroup flags through the built CLI (`npm test` builds first): the Result carries
 * `usage` and `cgroup`, limits are verified, violations are specific, bad input exits 2 with
 * nothing created. Real v1 cgroups under a private test root.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, ffrtmp } from '../helpers';
import { cleanupRoot, hostEnv, isRoot, nothingUnder, rootFlagFor, sleepMs, testRootName } from './support';

const env = hostEnv();
const usable = isRoot && fs.existsSync(CLI) && (env.mode === 'v1' || env.mode === 'hybrid') && env.v1.some((h) => h.controllers.includes('memory'));
const d = usable ? describe : describe.skip;

/** The Result JSON line (the last line of stderr starting with `{`). */
function resultOf(stderr: string): Record<string, any> {
  const line = stderr.split('\n').filter((l) => l.startsWith('{')).pop();
  if (!line) throw new Error(`no Result in: ${stderr}`);
  return JSON.parse(line);
}

d('cgroup flags on run and attach (built CLI)', () => {
  const rel = testRootName();
  const root = rootFlagFor(env, rel);

  afterAll(async () => {
    expect(await cleanupRoot(env, rel)).toEqual([]);
    expect(nothingUnder(env, rel)).toBe(true);
  });

  it('run: limits applied and read back, usage reported, leaves removed', async () => {
    const r = await ffrtmp(['run', '--job-id', 'cli-run', '--cgroup-root', root, '--cpu-quota', '50', '--cpu-weight', '200', '--memory-max', '64M', '--json', '--', 'sh', '-c', 'i=0; while [ $i -lt 50000 ]; do i=$((i+1)); done']);
    expect(r.code, r.stderr).toBe(0);
    const res = resultOf(r.stderr);
    expect(res.platform_sla_reason).toBe('completed_successfully');
    expect(res.cgroup.placement).toBe('cgroup_procs');
    expect(res.cgroup.problems).toEqual([]);
    expect(res.cgroup.limits.length).toBe(4); // period, quota, shares, memory
    expect(res.cgroup.limits.every((l: { applied: boolean }) => l.applied)).toBe(true);
    expect(res.cgroup.removal).toEqual({ removed: true, left: [] });
    expect(res.usage.cpu_seconds).toBeGreaterThan(0);
    expect(res.usage.oom_kills).toBe(0);
    for (const leaf of res.cgroup.leaves) expect(fs.existsSync(leaf.dir)).toBe(false);
  });

  it('run --memory-max 1.5G: floor(1.5 × 1024³) bytes written and read back', async () => {
    const r = await ffrtmp(['run', '--job-id', 'cli-mem-decimal', '--cgroup-root', root, '--memory-max', '1.5G', '--json', '--', 'true']);
    expect(r.code, r.stderr).toBe(0);
    const [mem] = resultOf(r.stderr).cgroup.limits;
    expect(mem).toMatchObject({ limit: 'memory.max', requested: '1610612736', effective: '1610612736', applied: true });
  });

  it('run --memory-max 0.5K: below a page, refused before anything exists (exit 2, one line)', async () => {
    const r = await ffrtmp(['run', '--job-id', 'cli-mem-page', '--cgroup-root', root, '--memory-max', '0.5K', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ffrtmp: --memory-max "0.5K" is 512 bytes, below one page (4096 bytes): the workload could not even start\n');
  });

  it('--cpu-quota above the host CPUs: one warning line at start, the job runs with the limit written', async () => {
    const cpus = os.availableParallelism();
    const pct = (cpus + 2) * 100;
    const r = await ffrtmp(['run', '--job-id', 'cli-quota-warn', '--cgroup-root', root, '--cpu-quota', String(pct), '--json', '--', 'sh', '-c', 'echo workload >&2; sleep 0.2']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stderr.split('\n');
    // At start: before anything the workload writes.
    expect(lines.slice(0, 2)).toEqual([`ffrtmp: warning: --cpu-quota ${pct}% is more than this host's ${cpus} CPU${cpus === 1 ? '' : 's'}: the limit cannot bind`, 'workload']);
    expect(lines.filter((l) => l.startsWith('ffrtmp: warning:'))).toHaveLength(1);
    const quota = resultOf(r.stderr).cgroup.limits.find((l: { file: string }) => /cfs_quota_us$|cpu\.max$/.test(l.file));
    expect(quota).toMatchObject({ requested: String(pct * 1000), effective: String(pct * 1000), applied: true });
  });

  it('--cpu-max above the host CPUs on attach: the same warning; none at or below the host CPUs', async () => {
    const cpus = os.availableParallelism();
    const proc = spawn('sleep', ['0.5'], { stdio: 'ignore' });
    await new Promise((r) => proc.once('spawn', r));
    const r = await ffrtmp(['attach', '--pid', String(proc.pid), '--job-id', 'cli-attach-warn', '--cgroup-root', root, '--cpu-max', `${(cpus + 1) * 100000} 100000`]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr.split('\n')[0]).toBe(`ffrtmp: warning: --cpu-max "${(cpus + 1) * 100000} 100000" allows ${cpus + 1} CPUs, more than this host's ${cpus} CPU${cpus === 1 ? '' : 's'}: the limit cannot bind`);
    const quiet = await ffrtmp(['run', '--job-id', 'cli-quota-fits', '--cgroup-root', root, '--cpu-quota', String(cpus * 100), '--', 'sleep', '0.1']);
    expect(quiet.stderr).not.toMatch(/warning/);
  });

  it('a warning never comes with a usage error: the error is the one line', async () => {
    const r = await ffrtmp(['run', '--cgroup-root', root, '--cpu-quota', '100000', '--job-id', 'a/b', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^ffrtmp: job id "a\/b" is not allowed[^\n]*\n$/);
  });

  it('run: OOM-killed under its own limit is the workload\'s failure, shown plainly', async () => {
    const r = await ffrtmp(['run', '--job-id', 'cli-oom', '--cgroup-root', root, '--memory-max', '96M', '--json', '--', process.execPath, '-e', 'const a=[];for(;;)a.push(Buffer.alloc(1<<20,1))']);
    const res = resultOf(r.stderr);
    expect(res.signal).toBe('SIGKILL');
    expect(res.platform_sla_reason).toBe('workload_failed_platform_ok');
    expect(res.platform_sla_compliant).toBe(true);
    expect(res.usage.oom_kills).toBeGreaterThanOrEqual(1);
  });

  it('attach: the process is moved in and verified; the leaf is removed after it exits', async () => {
    const proc = spawn('sleep', ['2'], { stdio: 'ignore' });
    await new Promise((r) => proc.once('spawn', r));
    const pending = ffrtmp(['attach', '--pid', String(proc.pid), '--job-id', 'cli-attach', '--cgroup-root', root, '--memory-max', '256M', '--cpu-quota', '30', '--json']);
    await sleepMs(800);
    const cg = fs.readFileSync(`/proc/${proc.pid}/cgroup`, 'utf8');
    expect(cg).toContain(`/${rel}/cli-attach`);
    const r = await pending;
    const res = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(res.cgroup.placement).toBe('attach');
    expect(res.cgroup.problems).toEqual([]);
    expect(res.usage.since).toBe('attach');
    expect(res.cgroup.removal.removed).toBe(true);
  });

  it('invalid limits and ids exit 2 and create nothing', async () => {
    for (const args of [
      ['--cpu-quota', '0'], ['--cpu-max', '50000 100'], ['--cpu-weight', '20000'], ['--memory-max', '12Q'],
      ['--io-max', '999:999 rbps=1'], ['--cpu-max', '50000 100000', '--cpu-quota', '10'], ['--cgroup-root', 'rel/ative'],
      ['--job-id', 'tasks'], ['--job-id', '../x'],
    ]) {
      const r = await ffrtmp(['run', '--cgroup-root', root, ...args, '--', 'true']);
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(2);
    }
    expect(nothingUnder(env, rel) || fs.readdirSync(`${env.v1[0]!.mountPoint}/${rel}`, { withFileTypes: true }).every((e) => !e.isDirectory())).toBe(true);
  });

  it('degrade: a root off the cgroup filesystem → cgroup_unavailable, and the workload still ran', async () => {
    const marker = `/tmp/ffrtmp-cg-ran-${process.pid}`;
    fs.rmSync(marker, { force: true });
    const r = await ffrtmp(['run', '--cgroup-root', '/tmp', '--memory-max', '64M', '--json', '--', 'sh', '-c', `touch ${marker}`]);
    const res = resultOf(r.stderr);
    expect(fs.existsSync(marker)).toBe(true);
    fs.rmSync(marker, { force: true });
    expect(res.exit_code).toBe(0);
    expect(res.platform_sla_compliant).toBe(false);
    expect(res.platform_sla_reason).toBe('cgroup_unavailable');
    expect(res.usage).toEqual({ cpu_seconds: null, memory_peak_bytes: null, oom_kills: null, since: 'start' });
  });

  it('FFRTMP_CGROUP_ROOT is the default --cgroup-root', async () => {
    const r = await ffrtmp(['run', '--job-id', 'env-root', '--memory-max', '64M', '--json', '--', 'true'], { env: { FFRTMP_CGROUP_ROOT: root } });
    const res = resultOf(r.stderr);
    expect(res.cgroup.root_source).toBe('flag');
    expect(res.cgroup.leaves.every((l: { dir: string }) => l.dir.includes(`/${rel}/env-root`))).toBe(true);
  });

  it('no limits and no cgroup possible is not a violation', async () => {
    const r = await ffrtmp(['run', '--cgroup-root', '/tmp', '--json', '--', 'true']);
    const res = resultOf(r.stderr);
    expect(res.platform_sla_reason).toBe('completed_successfully');
    expect(res.cgroup.problems.every((p: { violation: boolean }) => !p.violation)).toBe(true);
  });
});
