/**
 * attach touches only what it is asked to touch. Targets it never governs, processes already
 * governed by a live job and job ids in use are refused BEFORE anything is touched: one line,
 * exit 2, the process's cgroups exactly as they were, no job cgroup created, nothing journaled.
 * And one wrapper attaches a thousand processes with nothing on stderr but their summary lines.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { detectCgroups } from '../../src/cgroup/detect';
import { readJournal } from '../../src/journal/reader';
import { CLI, exited, ffrtmp, killQuietly, startFfrtmp, summaries, TEST_STATE_DIR, testTempDir, waitFor, waitStarted } from '../helpers';

const env = detectCgroups();
const root = process.env.FFRTMP_CGROUP_ROOT;
const cgroupsHere = env.mode !== 'none' && root !== undefined && process.geteuid?.() === 0;

const procs: ChildProcess[] = [];
afterEach(() => {
  for (const p of procs.splice(0)) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

function sleeper(seconds = 30): ChildProcess {
  const p = spawn('sleep', [String(seconds)], { stdio: 'ignore' });
  procs.push(p);
  return p;
}

const cgroupOf = (pid: number): string => fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');

/** The job cgroup directories under the run's private root, in every hierarchy. */
function jobLeaves(): string[] {
  if (root === undefined) return [];
  const rel = path.relative(env.v1.find((h) => root.startsWith(`${h.mountPoint}/`))?.mountPoint ?? env.v2?.mountPoint ?? '/', root);
  return [...env.v1.map((h) => h.mountPoint), ...(env.v2 ? [env.v2.mountPoint] : [])].flatMap((m) => {
    try {
      return fs.readdirSync(path.join(m, rel), { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    } catch {
      return [];
    }
  });
}

/** Runs an attach that must be refused, and proves that nothing was touched. */
async function refused(pid: number, args: string[], message: RegExp, opts: { stateDir?: string } = {}): Promise<void> {
  const before = cgroupOf(pid);
  const leavesBefore = jobLeaves().sort();
  const recordsBefore = readJournal(opts.stateDir ?? TEST_STATE_DIR).records.length;
  const r = await ffrtmp(['attach', '--pid', String(pid), '--memory-max', '256M', ...args, ...(opts.stateDir ? ['--state-dir', opts.stateDir] : [])]);
  expect(r.code, r.stderr).toBe(2);
  expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
  expect(r.stderr).toMatch(/^ffrtmp: /);
  expect(r.stderr).toMatch(message);
  expect(cgroupOf(pid)).toBe(before);
  expect(jobLeaves().sort()).toEqual(leavesBefore);
  expect(readJournal(opts.stateDir ?? TEST_STATE_DIR).records.length).toBe(recordsBefore);
}

describe('attach refuses what it must never touch', () => {
  it('PID 1 (init)', async () => {
    await refused(1, [], /pid 1 is init: ffrtmp never governs it/);
  });

  it('kernel threads: kthreadd and one of its workers', async () => {
    await refused(2, [], /pid 2 is a kernel thread/);
    const worker = fs.readdirSync('/proc').filter((x) => /^\d+$/.test(x)).map(Number).find((p) => {
      try {
        return p > 2 && fs.readFileSync(`/proc/${p}/stat`, 'latin1').split(') ')[1]!.split(' ')[1] === '2';
      } catch {
        return false;
      }
    });
    if (worker === undefined) {
      console.warn('SKIPPED kernel worker half: no child of kthreadd visible here');
      return;
    }
    await refused(worker, [], new RegExp(`pid ${worker} is a kernel thread`));
  });

  it('ffrtmp itself, and its ancestors (the shell that started it)', async () => {
    // `sh -c 'exec node cli attach --pid $$'`: $$ is ffrtmp itself; without exec, its parent shell.
    for (const [script, what] of [
      ['exec "$NODE" "$CLI" attach --pid $$ --memory-max 256M', /is ffrtmp itself/],
      ['"$NODE" "$CLI" attach --pid $$ --memory-max 256M; exit $?', /is an ancestor of this ffrtmp/],
    ] as const) {
      const p = spawn('sh', ['-c', script], { env: { ...process.env, NODE: process.execPath, CLI, FFRTMP_STATE_DIR: TEST_STATE_DIR }, stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      p.stderr!.on('data', (d) => (stderr += d));
      const { code } = await exited(p);
      expect(code, stderr).toBe(2);
      expect(stderr).toMatch(what);
      expect(stderr.trim().split('\n')).toHaveLength(1);
    }
  });
});

describe('attach refuses what a live job already governs', () => {
  it('a process attached by another live wrapper (with or without limits), named by job and wrapper', async () => {
    const p = sleeper();
    const first = startFfrtmp(['attach', '--pid', String(p.pid), '--job-id', 'first-owner']);
    procs.push(first);
    await waitStarted(p.pid!);
    await refused(p.pid!, ['--job-id', 'second-owner'], new RegExp(`process ${p.pid} is already governed by job first-owner \\(watched by ffrtmp pid ${first.pid}\\)`));
    const r = await ffrtmp(['attach', '--pid', String(p.pid), '--job-id', 'third']); // no limits: still refused
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already governed by job first-owner/);
    p.kill('SIGKILL'); // the first wrapper records its end
    expect(await exited(first)).toMatchObject({ code: 0 });
  });

  it.skipIf(!cgroupsHere)('a process in a job cgroup of ours, even one journaled in another state dir', async () => {
    const p = sleeper();
    const first = startFfrtmp(['attach', '--pid', String(p.pid), '--job-id', 'limited', '--memory-max', '256M']);
    procs.push(first);
    await waitStarted(p.pid!);
    const elsewhere = testTempDir('other-state');
    try {
      await refused(p.pid!, ['--job-id', 'elsewhere'], /is already governed by an ffrtmp job: it is in the job cgroup .*\/limited\.[0-9a-f]{16}$/m, { stateDir: elsewhere });
    } finally {
      fs.rmSync(elsewhere, { recursive: true, force: true });
    }
    p.kill('SIGKILL'); // the first wrapper records its end and removes its leaves
    expect(await exited(first)).toMatchObject({ code: 0 });
  });

  it('a job id that is running now: refused for run and attach, naming its pid; free again once it ended', async () => {
    const first = startFfrtmp(['run', '--job-id', 'busy-id', '--', 'sleep', '2']);
    procs.push(first);
    const started = await waitFor(() => readJournal(TEST_STATE_DIR).records.find((r) => r.type === 'started' && r.job_id === 'busy-id'));
    const again = await ffrtmp(['run', '--job-id', 'busy-id', '--', 'true']);
    expect(again.code).toBe(2);
    expect(again.stderr.trim()).toBe(`ffrtmp: job id busy-id is running now (pid ${started.pid}, watched by ffrtmp pid ${first.pid}): choose another --job-id`);
    const p = sleeper();
    await refused(p.pid!, ['--job-id', 'busy-id'], /job id busy-id is running now/);
    expect(await exited(first)).toMatchObject({ code: 0 });
    expect((await ffrtmp(['run', '--job-id', 'busy-id', '--', 'true'])).code).toBe(0);
  });

  it('the same job id started four times at once: exactly one runs', async () => {
    const ws = Array.from({ length: 4 }, () => startFfrtmp(['run', '--job-id', 'race-id', '--', 'sleep', '1']));
    procs.push(...ws);
    const codes = (await Promise.all(ws.map(exited))).map((e) => e.code);
    expect(codes.filter((c) => c === 0)).toHaveLength(1);
    expect(codes.filter((c) => c === 2)).toHaveLength(3);
    for (const w of ws.filter((w) => w.exitCode === 2)) expect(w.output().stderr).toMatch(/job id race-id is running now/);
    const runs = readJournal(TEST_STATE_DIR).records.filter((r) => r.job_id === 'race-id');
    expect(runs.map((r) => r.type)).toEqual(['started', 'result']);
  });
});

describe('one process attached by four wrappers at once (no limits: no cgroup to tell them apart)', () => {
  it('exactly one governs it; the others are refused, naming the job that does', async () => {
    const p = sleeper();
    const ws = Array.from({ length: 4 }, () => startFfrtmp(['attach', '--pid', String(p.pid)]));
    procs.push(...ws);
    // The refused ones exit at once; the one that governs waits for the process.
    await waitFor(() => ws.filter((w) => w.exitCode === 2).length === 3 || ws.filter((w) => w.exitCode === null).length === 0, 60_000);
    expect(ws.filter((w) => w.exitCode === 2)).toHaveLength(3);
    const winner = ws.find((w) => w.exitCode === null)!;
    expect(winner).toBeDefined();
    for (const w of ws.filter((x) => x !== winner)) expect(w.output().stderr).toMatch(new RegExp(`^ffrtmp: process ${p.pid} is already governed by job \\S+ \\(watched by ffrtmp pid ${winner.pid}\\)`));
    p.kill('SIGKILL');
    expect(await exited(winner)).toMatchObject({ code: 0 });
    const runs = readJournal(TEST_STATE_DIR).records.filter((r) => r.pid === p.pid);
    expect(runs.map((r) => r.type)).toEqual(['started', 'result']);
  }, 90_000);
});

describe('a thousand processes in one attach', () => {
  it('one wrapper, one line each on stderr and stdout, and nothing else (no listener warning)', async () => {
    const n = 1000;
    const dir = testTempDir('thousand');
    try {
      // One shell starts them all (not our children: the shell is their parent).
      const sh = spawn('sh', ['-c', `for i in $(seq ${n}); do sleep 30 & echo $!; done; wait`], { stdio: ['ignore', 'pipe', 'ignore'] });
      procs.push(sh);
      let out = '';
      sh.stdout!.on('data', (d) => (out += d));
      const pids = await waitFor(() => {
        const ps = out.split('\n').filter(Boolean).map(Number);
        return ps.length === n ? ps : undefined;
      }, 120_000);
      const wrapper = startFfrtmp(['attach', '--state-dir', dir, '--json', ...pids.flatMap((p) => ['--pid', String(p)])]);
      procs.push(wrapper);
      // ~10 s alone; minutes when the keeper suite's 100 wrappers run beside it: a correctness test
      await waitFor(() => readJournal(dir).records.filter((r) => r.type === 'started').length === n || undefined, 240_000, 200);
      for (const p of pids) killQuietly(p);
      const { code } = await exited(wrapper);
      expect(code).toBe(0);
      const { stdout, stderr } = wrapper.output();
      expect(summaries(stderr)).toHaveLength(n);
      expect(stderr.trim().split('\n').filter((l) => !l.startsWith('JOB '))).toEqual([]);
      expect(stdout.trim().split('\n')).toHaveLength(n);
      expect(readJournal(dir).records.filter((r) => r.type === 'result')).toHaveLength(n);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 330_000);
});
