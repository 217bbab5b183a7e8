/**
 * Crash safety on a queue: never run a job twice, never lose its Result. Real agents killed with
 * -9 or stopped with SIGTERM in the middle of real workloads, restarted on the same state dir;
 * another agent (another node, its own state dir) on the same queue all along, which must never
 * run what the first one held.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outcomeFromLogs } from '../../src/agent/outcome';
import type { StartedJournalRecord } from '../../src/journal/types';
import { loadNative } from '../../src/native/load';
import { exited, isAlive, summaries, testTempDir, waitFor } from '../helpers';
import { cleanup, eventually, finished, haveRedis, ledger, lines, producer, records, resultsOf, startAgent, startRedis, type AgentProcess, type TestRedis } from './support';

const native = loadNative();
const infoExit = native.available && native.native.capabilities().pidfdInfoExit;

let redis: TestRedis;
const children: AgentProcess[] = [];
const queues: Queue[] = [];
const stateDirs: string[] = [];
const pids: number[] = [];
const out = testTempDir('agent-crash');

beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterEach(async () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => exited(c)));
});
afterAll(async () => {
  await cleanup({ children, pids, stateDirs, queues, redis });
  fs.rmSync(out, { recursive: true, force: true });
});

function stateDir(name: string): string {
  const d = path.join(out, `state-${name}`);
  stateDirs.push(d);
  return d;
}
function queue(name: string): Queue {
  const q = producer(redis, name);
  queues.push(q);
  return q;
}
/** A workload that notes each run of it (one line per start) and then lives `seconds`. */
function workload(marker: string, seconds: number, exit: number): string[] {
  return ['-c', `echo $$ >> ${marker}; sleep ${seconds}; exit ${exit}`];
}
const startedRec = (dir: string, jobId: string) =>
  records(dir).find((r): r is StartedJournalRecord => r.type === 'started' && r.job_id === jobId);
/**
 * Resolves once the agent holds these jobs and their workloads run (each has written its line in
 * its marker: a kill between the started record and the exec would leave a job that never ran):
 * their pids.
 */
async function running(dir: string, wrapperJobs: string[], legacyJobs: string[], markers: string[]): Promise<number[]> {
  return waitFor(() => {
    if (markers.some((m) => lines(m).length === 0)) return false;
    const entries = ledger(dir);
    const got: number[] = [];
    for (const id of wrapperJobs) {
      const e = entries.find((x) => x.job_id === id);
      const s = startedRec(dir, id);
      if (e?.run_id === undefined || s === undefined) return false;
      got.push(s.pid);
    }
    for (const id of legacyJobs) {
      const e = entries.find((x) => x.job_id === id);
      if (typeof e?.pid !== 'number') return false;
      got.push(e.pid);
    }
    return got;
  }, 20_000);
}

describe.skipIf(!haveRedis)('crash safety on a queue', () => {
  it('kill -9 of the agent mid-job: the workloads keep running; the restarted agent takes the queue jobs back and completes each once with its real end; the other node never runs them', async () => {
    const dirA = stateDir('kill-a');
    const dirB = stateDir('kill-b');
    const q = queue('kill');
    const a = await startAgent({ redis, queue: 'kill', stateDir: dirA, concurrency: 2, lockDurationMs: 6000 }, children);
    const mw = path.join(out, 'kill-wrap');
    const ml = path.join(out, 'kill-legacy');
    await q.add('ffrtmp', { id: 'k-wrap', command: 'sh', args: workload(mw, 2.5, 0), wrapper_enabled: true }, { jobId: 'k-wrap' });
    await q.add('ffrtmp', { id: 'k-legacy', command: 'sh', args: workload(ml, 2.5, 6) }, { jobId: 'k-legacy' });
    const workloads = await running(dirA, ['k-wrap'], ['k-legacy'], [mw, ml]);
    pids.push(...workloads);
    // Another node on the same queue, with a fast stalled check: it must never take them.
    const other = await startAgent({ redis, queue: 'kill', stateDir: dirB, concurrency: 2, stalledIntervalMs: 300, workerId: 'other-node' }, children);

    a.kill('SIGKILL');
    await exited(a);
    for (const p of workloads) expect(isAlive(p)).toBe(true);
    const a2 = await startAgent({ redis, queue: 'kill', stateDir: dirA, concurrency: 2, lockDurationMs: 6000 }, children);
    expect(a2.output().stderr).toContain('taking back 2 job(s) an earlier agent held');

    const w = await finished(q, 'k-wrap');
    expect(w.state).toBe('completed');
    expect(w.job.returnvalue).toMatchObject({ job_id: 'k-wrap', exit_code: 0, exit_source: 'keeper', platform_sla_reason: 'completed_successfully' });
    const l = await finished(q, 'k-legacy');
    expect(l.state).toBe('failed');
    expect(l.job.failedReason).toMatch(infoExit ? /^the workload exited 6: JOB k-legacy \| path=legacy/ : /^the workload ended with an unknown status/);
    expect(outcomeFromLogs(l.logs)).toMatchObject(infoExit ? { path: 'legacy', exit_code: 6, exit_source: 'pidfd_info' } : { path: 'legacy', exit_code: null, exit_source: 'unknown' });

    // Ran once, completed once, by the node that took them.
    expect(lines(mw)).toHaveLength(1);
    expect(lines(ml)).toHaveLength(1);
    for (const j of [w.job, l.job]) expect(j).toMatchObject({ attemptsStarted: 1, attemptsMade: 1, processedBy: 'test-node' });
    const results = resultsOf(dirA, 'k-wrap');
    expect(results).toHaveLength(1);
    expect(results[0]!.adopted_by).toBeDefined();
    expect(records(dirA).filter((r) => r.type === 'started' && r.job_id === 'k-wrap')).toHaveLength(1);
    expect(records(dirB)).toEqual([]);
    expect(summaries(other.output().stderr)).toEqual([]);
    expect(a2.output().stderr).toMatch(/took back job k-wrap \(queue kill #k-wrap, wrapper path, run [0-9a-f]{16}\) from an earlier agent: its queue lock re-taken/);
    expect(a2.output().stderr).toMatch(/^JOB k-wrap \| sla=COMPLIANT \| reason=completed_successfully \| runtime=3s \| exit=0 \| pid=\d+$/m);
    await waitFor(() => ledger(dirA).length === 0 || undefined);
  });

  it('SIGTERM: the agent stops taking jobs, detaches (workloads continue, nothing signalled) and exits within seconds; the restarted agent takes them back', async () => {
    const dir = stateDir('term');
    const q = queue('term');
    const a = await startAgent({ redis, queue: 'term', stateDir: dir, concurrency: 2 }, children);
    const mw = path.join(out, 'term-wrap');
    const ml = path.join(out, 'term-legacy');
    await q.add('ffrtmp', { id: 't-wrap', command: 'sh', args: workload(mw, 2.5, 0), wrapper_enabled: true }, { jobId: 't-wrap' });
    await q.add('ffrtmp', { id: 't-legacy', command: 'sh', args: workload(ml, 2.5, 0) }, { jobId: 't-legacy' });
    const workloads = await running(dir, ['t-wrap'], ['t-legacy'], [mw, ml]);
    pids.push(...workloads);

    const t0 = Date.now();
    a.kill('SIGTERM');
    const end = await exited(a);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(end.code).toBe(0);
    expect(a.output().stderr).toMatch(/agent stopped \(SIGTERM\): 2 job\(s\) continue, detached; the next agent on .* takes them back within the lock duration \(5s\)/);
    for (const p of workloads) expect(isAlive(p)).toBe(true);
    expect(records(dir).filter((r) => r.job_id === 't-wrap').map((r) => r.type)).toEqual(['started', 'detached']);
    for (const id of ['t-wrap', 't-legacy']) expect(await (await q.getJob(id))!.getState()).toBe('active');
    // A job added now waits for an agent.
    await q.add('ffrtmp', { id: 't-after', command: 'sh', args: ['-c', 'exit 0'] }, { jobId: 't-after' });
    await new Promise((r) => setTimeout(r, 300));
    expect(await (await q.getJob('t-after'))!.getState()).toBe('waiting');

    await startAgent({ redis, queue: 'term', stateDir: dir, concurrency: 2 }, children);
    const w = await finished(q, 't-wrap');
    expect(w.state).toBe('completed');
    expect(w.job.returnvalue).toMatchObject({ exit_code: 0, signal: null, exit_source: 'keeper' }); // not signalled
    const l = await finished(q, 't-legacy');
    expect(l.state, `${l.job.failedReason} ${JSON.stringify(l.logs)}`).toBe(infoExit ? 'completed' : 'failed');
    if (infoExit) expect(l.job.returnvalue).toMatchObject({ path: 'legacy', exit_code: 0, signal: null });
    expect((await finished(q, 't-after')).state).toBe('completed');
    expect(lines(mw)).toHaveLength(1);
    expect(lines(ml)).toHaveLength(1);
  });

  it('killed after the started record, before the ledger named the run: the restarted agent finds the run in the journal (by job id and the dead agent) and completes the job', async () => {
    const dir = stateDir('unnamed');
    const q = queue('unnamed');
    const a = await startAgent({ redis, queue: 'unnamed', stateDir: dir }, children);
    const m = path.join(out, 'unnamed');
    await q.add('ffrtmp', { id: 'u-1', command: 'sh', args: workload(m, 2, 0), wrapper_enabled: true }, { jobId: 'u-1' });
    pids.push(...(await running(dir, ['u-1'], [], [m])));
    a.kill('SIGKILL');
    await exited(a);
    // The crash window between the journal's started record and the ledger's update, made by hand.
    const file = path.join(dir, 'agent', 'jobs', fs.readdirSync(path.join(dir, 'agent', 'jobs'))[0]!);
    const { run_id: _r, ...entry } = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
    fs.writeFileSync(file, JSON.stringify(entry));
    const a2 = await startAgent({ redis, queue: 'unnamed', stateDir: dir }, children);
    await waitFor(() => a2.output().stderr.includes('took back job u-1 (queue unnamed #u-1, wrapper path, its run) from an earlier agent: its queue lock re-taken'));
    const f = await finished(q, 'u-1');
    expect(f.state).toBe('completed');
    expect(f.job.returnvalue).toMatchObject({ job_id: 'u-1', exit_code: 0 });
    expect(lines(m)).toHaveLength(1);
  });

  it('--concurrency counts the jobs taken back: with 1, a new job waits until the adopted one has ended', async () => {
    const dir = stateDir('conc');
    const q = queue('conc');
    const a = await startAgent({ redis, queue: 'conc', stateDir: dir, concurrency: 1 }, children);
    const mc = path.join(out, 'conc');
    await q.add('ffrtmp', { id: 'c-long', command: 'sh', args: workload(mc, 2, 0), wrapper_enabled: true }, { jobId: 'c-long' });
    pids.push(...(await running(dir, ['c-long'], [], [mc])));
    a.kill('SIGKILL');
    await exited(a);
    await q.add('ffrtmp', { id: 'c-next', command: 'sh', args: ['-c', 'exit 0'], wrapper_enabled: true }, { jobId: 'c-next' });
    await startAgent({ redis, queue: 'conc', stateDir: dir, concurrency: 1 }, children);
    const long = await finished(q, 'c-long');
    const next = await finished(q, 'c-next');
    expect([long.state, next.state], `${long.job.failedReason} ${JSON.stringify(long.logs)}`).toEqual(['completed', 'completed']);
    const [rl] = resultsOf(dir, 'c-long');
    const [rn] = resultsOf(dir, 'c-next');
    expect(Date.parse(rn!.start_time)).toBeGreaterThanOrEqual(Date.parse(rl!.end_time));
  });

  it('agent down longer than the lock: the queue fails the job as stalled and nobody runs it again; the agent, back, still records the Result and attaches it to the queue job', async () => {
    const dirA = stateDir('late-a');
    const q = queue('late');
    const a = await startAgent({ redis, queue: 'late', stateDir: dirA, lockDurationMs: 1500 }, children);
    const m = path.join(out, 'late');
    await q.add('ffrtmp', { id: 'late-1', command: 'sh', args: workload(m, 4, 0), wrapper_enabled: true }, { jobId: 'late-1' });
    pids.push(...(await running(dirA, ['late-1'], [], [m])));
    a.kill('SIGKILL');
    await exited(a);
    // Another node's stalled check finds the lock expired: failed, never put back to wait.
    await startAgent({ redis, queue: 'late', stateDir: stateDir('late-b'), stalledIntervalMs: 300, workerId: 'other-node' }, children);
    const stalled = await finished(q, 'late-1', 15_000);
    expect(stalled.state).toBe('failed');
    expect(stalled.job.failedReason).toBe('job stalled more than allowable limit');
    const a2 = await startAgent({ redis, queue: 'late', stateDir: dirA, lockDurationMs: 1500 }, children);
    await waitFor(() => a2.output().stderr.includes('took back job late-1'), 10_000);
    expect(a2.output().stderr).toContain('its queue lock had expired');
    const attached = await eventually(async () => outcomeFromLogs((await q.getJobLogs('late-1')).logs), 15_000);
    expect(attached).toMatchObject({ job_id: 'late-1', exit_code: 0, exit_source: 'keeper' });
    expect(await (await q.getJob('late-1'))!.getState()).toBe('failed');
    expect(lines(m)).toHaveLength(1);
    await waitFor(() => a2.output().stderr.includes('the queue had failed it meanwhile'), 5000);
    expect(ledger(dirA)).toEqual([]);
  });
});
