/**
 * A detach is not an end, and every end is recorded, whoever sees it. A wrapper told to stop
 * (SIGTERM) leaves the workload running and the job open; one killed -9 leaves it orphaned. The
 * adopter (`ffrtmp recover`, or a `ffrtmp serve` that is running) then records the job's one
 * Result with its real end, the exit status where the kernel has it, the usage of its cgroup
 * leaves, and removes them.
 */
import * as fs from 'node:fs';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { readJournal } from '../../src/journal/reader';
import type { ResultJournalRecord, StartedJournalRecord } from '../../src/journal/types';
import { loadNative } from '../../src/native/load';
import { exited, ffrtmp, killQuietly, startFfrtmp, stopAll, testTempDir, waitFor } from '../helpers';

const native = loadNative();
const infoExit = native.available && native.native.capabilities().pidfdInfoExit;
const cgroups = process.env.FFRTMP_CGROUP_ROOT !== undefined && process.geteuid?.() === 0;

const dir = testTempDir('detach-state');
const children: ReturnType<typeof startFfrtmp>[] = [];
const pids: number[] = [];
afterEach(async () => {
  await stopAll(children);
  for (const p of pids.splice(0)) killQuietly(p);
});
afterAll(async () => {
  await ffrtmp(['recover', '--state-dir', dir]); // closes whatever a failed test left open
  fs.rmSync(dir, { recursive: true, force: true });
});

const records = () => readJournal(dir).records;
const started = (jobId: string) => waitFor(() => records().find((r): r is StartedJournalRecord => r.type === 'started' && r.job_id === jobId));
const resultOf = (jobId: string, timeoutMs = 30_000) =>
  waitFor(() => records().find((r): r is ResultJournalRecord => r.type === 'result' && r.job_id === jobId), timeoutMs, 50);

/**
 * The checks every adopted end must pass: its real status (from its keeper, on every kernel; from
 * PIDFD_INFO_EXIT where the kernel has it when there was none), usage, no leaf left.
 */
async function expectRecordedEnd(r: ResultJournalRecord, s: StartedJournalRecord, exitCode: number): Promise<void> {
  expect(r.run_id).toBe(s.run_id);
  expect(r.adopted_by).toBeDefined();
  if (s.keeper !== undefined) {
    expect(r, JSON.stringify(r)).toMatchObject({
      platform_sla_reason: exitCode === 0 ? 'completed_successfully' : 'workload_failed_platform_ok',
      exit_code: exitCode, exit_source: 'keeper', keeper: { pid: s.keeper.pid },
    });
    // it has said all it had to say: removed by the writer of the Result, right after it
    await waitFor(() => !fs.existsSync(s.keeper!.exit_file) || undefined, 5000);
  } else {
    expect(r.platform_sla_reason, JSON.stringify(r)).toBe('observed_to_completion');
    if (infoExit) expect(r).toMatchObject({ exit_code: exitCode, exit_source: 'pidfd_info' });
    else expect(r).toMatchObject({ exit_code: null, exit_source: 'unknown' });
  }
  expect(r.start_time).toBe(s.start_time); // the whole job, not only the adopted part
  if (cgroups) {
    expect(r.usage?.cpu_seconds).toBeGreaterThan(0);
    expect(r.cgroup!.limits.find((l) => l.limit === 'memory.max')).toMatchObject({ applied: true });
    expect(r.cgroup!.removal).toEqual({ removed: true, left: [] });
    for (const leaf of s.leaves!) expect(fs.existsSync(leaf)).toBe(false);
  }
  expect(records().filter((x) => x.type === 'result' && x.run_id === s.run_id)).toHaveLength(1);
}

const WORK = 'i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done; sleep 1.5; exit 3';

describe('a detach is not an end', () => {
  it('SIGTERM: the job stays open (jobs says detached); recover records its real end, usage, and removes its leaves', async () => {
    const w = startFfrtmp(['run', '--state-dir', dir, '--job-id', 'left-running', '--memory-max', '256M', '--', 'sh', '-c', WORK]);
    children.push(w);
    const s = await started('left-running');
    pids.push(s.pid);
    w.kill('SIGTERM');
    expect(await exited(w)).toMatchObject({ code: 143 });
    expect(w.output().stderr).toMatch(/detached: pid \d+ keeps running, unwatched; `ffrtmp recover`/);
    expect(records().filter((r) => r.job_id === 'left-running').map((r) => r.type)).toEqual(['started', 'detached']);
    const jobs = await ffrtmp(['jobs', '--state-dir', dir]);
    expect(jobs.stdout).toMatch(/^left-running +run +- +detached /m);
    const show = JSON.parse((await ffrtmp(['jobs', 'show', 'left-running', '--state-dir', dir])).stdout);
    expect(show).toMatchObject({ state: 'detached', started: { run_id: s.run_id } });

    // The adopter takes it while it still runs, and sees it end.
    const rec = await ffrtmp(['recover', '--state-dir', dir], { timeoutMs: 60_000 });
    expect(rec.code, rec.stderr).toBe(0);
    expect(rec.stderr).toMatch(/adopted job left-running/);
    await expectRecordedEnd(await resultOf('left-running'), s, 3);
  }, 60_000);
});

describe('ffrtmp serve adopts continuously, not only at its start', () => {
  /** A serve (adopting, the default) and then a wrapper running WORK as `jobId`, once it has started. */
  async function serveThenRun(jobId: string) {
    const serve = startFfrtmp(['serve', '--listen', '127.0.0.1:0', '--state-dir', dir]);
    children.push(serve);
    await waitFor(() => /listening on/.test(serve.output().stderr));
    const w = startFfrtmp(['run', '--state-dir', dir, '--job-id', jobId, '--memory-max', '256M', '--', 'sh', '-c', WORK]);
    children.push(w);
    const s = await started(jobId);
    pids.push(s.pid);
    // The started record is written before the keeper lets the workload exec: a wrapper killed in
    // between never ran it (an honest spawn_failed_platform). These tests need it running.
    await waitFor(() => {
      try {
        return fs.readFileSync(`/proc/${s.pid}/cmdline`, 'latin1').startsWith('sh\0');
      } catch {
        return false;
      }
    });
    return { serve, w, s };
  }

  it('a wrapper killed -9 while serve runs: serve records the job\'s end', async () => {
    const { serve, w, s } = await serveThenRun('wrapper-killed');
    w.kill('SIGKILL');
    await exited(w);
    await waitFor(() => /adopted job wrapper-killed/.test(serve.output().stderr), 10_000);
    const r = await resultOf('wrapper-killed');
    expect(r.adopted_by!.pid).toBe(serve.pid);
    await expectRecordedEnd(r, s, 3);
  }, 60_000);

  it('a wrapper that ends normally while serve runs: serve adopts nothing and says nothing about it', async () => {
    const { serve, w } = await serveThenRun('ends-normally');
    expect(await exited(w)).toMatchObject({ code: 3 });
    const r = await resultOf('ends-normally');
    expect(r.adopted_by).toBeUndefined();
    await new Promise((res) => setTimeout(res, 300)); // the wrapper's exit reached serve's custodian
    expect(serve.output().stderr).not.toMatch(/ends-normally/);
  }, 60_000);

  it('a job detached while serve runs: serve records its end', async () => {
    const { serve, w, s } = await serveThenRun('detached-live');
    w.kill('SIGINT');
    expect(await exited(w)).toMatchObject({ code: 130 });
    const r = await resultOf('detached-live');
    expect(r.adopted_by!.pid).toBe(serve.pid);
    await expectRecordedEnd(r, s, 3);
    expect(records().filter((x) => x.job_id === 'detached-live').map((x) => x.type)).toEqual(['started', 'detached', 'result']);
  }, 60_000);
});
