/**
 * `ffrtmp agent` on a real Redis, with real workloads: the two paths, what the queue is told, bad
 * data, the kill switch, the settings from the environment, and `ffrtmp submit --wait`.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { outcomeFromLogs } from '../../src/agent/outcome';
import type { Result } from '../../src/model/result';
import { ffrtmp, startFfrtmp, summaries, testTempDir, waitFor } from '../helpers';
import { cleanup, finished, haveRedis, ledger, lines, producer, records, resultsOf, startAgent, startRedis, type AgentProcess, type TestRedis } from './support';

let redis: TestRedis;
const children: AgentProcess[] = [];
const queues: Queue[] = [];
const stateDirs: string[] = [];
const pids: number[] = [];
const out = testTempDir('agent-out');
const cgroups = process.env.FFRTMP_CGROUP_ROOT !== undefined && process.geteuid?.() === 0;

beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterEach(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
  await Promise.all(children.map((c) => (c.exitCode === null && c.signalCode === null ? new Promise((r) => c.once('exit', r)) : undefined)));
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
/** The Result as a journal line carries it, without the envelope. */
function bare(r: Record<string, unknown>): Result {
  const { type: _t, v: _v, run_id: _r, adopted_by: _a, ...rest } = r;
  return rest as unknown as Result;
}

describe.skipIf(!haveRedis)('ffrtmp agent', () => {
  it('wrapper path: exit 0 completes the queue job with the journaled Result as its return value; exit 3 fails it for good (UnrecoverableError, not retried though the producer allowed 3 attempts), the Result on the job', async () => {
    const dir = stateDir('paths');
    const q = queue('paths');
    const agent = await startAgent({ redis, queue: 'paths', stateDir: dir, concurrency: 2 }, children);
    await q.add('ffrtmp', { id: 'ok-1', command: 'sh', args: ['-c', 'exit 0'], wrapper_enabled: true, wrapper_constraints: { memory_max_mb: 64 } }, { jobId: 'ok-1' });
    await q.add('ffrtmp', { id: 'fail-1', command: 'sh', args: ['-c', 'exit 3'], wrapper_enabled: true }, { jobId: 'fail-1', attempts: 3 });

    const ok = await finished(q, 'ok-1');
    expect(ok.state).toBe('completed');
    expect(ok.job.returnvalue).toMatchObject({ job_id: 'ok-1', mode: 'run', exit_code: 0, platform_sla_reason: 'completed_successfully' });
    const [journaled] = resultsOf(dir, 'ok-1');
    expect(ok.job.returnvalue).toEqual(bare(journaled as unknown as Record<string, unknown>));
    if (cgroups) expect((ok.job.returnvalue as Result).cgroup!.limits.find((l) => l.limit === 'memory.max')).toMatchObject({ applied: true, effective: String(64 * 1024 * 1024) });

    const failed = await finished(q, 'fail-1');
    expect(failed.state).toBe('failed');
    expect(failed.job.failedReason).toMatch(/^the workload exited 3: JOB fail-1 \| sla=COMPLIANT \| reason=workload_failed_platform_ok \| runtime=0s \| exit=3 \| pid=\d+$/);
    expect(outcomeFromLogs(failed.logs)).toMatchObject({ job_id: 'fail-1', exit_code: 3, exit_source: 'keeper' });
    expect(outcomeFromLogs(failed.logs)).toEqual(bare(resultsOf(dir, 'fail-1')[0] as unknown as Record<string, unknown>));
    await new Promise((r) => setTimeout(r, 1500)); // a retry would have happened by now
    const later = (await q.getJob('fail-1'))!;
    expect(await later.getState()).toBe('failed');
    expect(later).toMatchObject({ attemptsMade: 1, attemptsStarted: 1 });
    expect(resultsOf(dir, 'fail-1')).toHaveLength(1);

    await waitFor(() => summaries(agent.output().stderr).length >= 2);
    expect(summaries(agent.output().stderr).map((s) => [s.job, s.exit])).toEqual(expect.arrayContaining([['ok-1', '0'], ['fail-1', '3']]));
    expect(ledger(dir)).toEqual([]);
  });

  it('bad job data: each job fails at once with a reason naming the field, nothing is started, and the agent goes on with the next job', async () => {
    const dir = stateDir('bad');
    const q = queue('bad');
    const agent = await startAgent({ redis, queue: 'bad', stateDir: dir }, children);
    const marker = path.join(out, 'bad-marker');
    const touch = ['-c', `echo ran >> ${marker}`];
    const bad: [string, Record<string, unknown>, RegExp][] = [
      ['no-command', { id: 'no-command', args: touch }, /^invalid job data: command: required/],
      ['bad-id', { id: 'has space', command: 'sh', args: touch }, /^invalid job data: id: job id "has space" is not allowed/],
      ['lots', { id: 'lots', command: 'sh', args: touch, wrapper_enabled: true, wrapper_constraints: { memory_max_mb: 'lots' } }, /^invalid job data: wrapper_constraints\.memory_max_mb: expected a whole number of MiB .*; got "lots"$/],
      ['engine', { id: 'engine', command: 'sh', args: touch, engine: 'ffmpeg' }, /^invalid job data: engine: unknown field/],
      ['workdir', { id: 'workdir', command: 'sh', args: touch, workdir: path.join(out, 'nope') }, /^invalid job data: workdir: .*nope: no such directory on this node$/],
    ];
    for (const [id, data] of bad) await q.add('ffrtmp', data, { jobId: id, attempts: 2 });
    await q.add('ffrtmp', { id: 'good', command: 'sh', args: ['-c', 'exit 0'] }, { jobId: 'good' });
    for (const [id, , reason] of bad) {
      const f = await finished(q, id);
      expect(f.state, id).toBe('failed');
      expect(f.job.failedReason, id).toMatch(reason);
      expect(f.job.attemptsMade, id).toBe(1);
      expect(agent.output().stderr).toContain(`queue bad #${id} failed, nothing started: invalid job data`);
    }
    expect((await finished(q, 'good')).state).toBe('completed');
    expect(lines(marker)).toEqual([]);
    expect(records(dir)).toEqual([]); // not even the good one: it took the legacy path
    expect(agent.exitCode).toBeNull();
  });

  it('the legacy path takes no governance path: a plain child of the agent, in the agent\'s own cgroups, no keeper, no journal, no claim; the wrapper path takes all of them', async () => {
    const dir = stateDir('legacy');
    const q = queue('legacy');
    const agent = await startAgent({ redis, queue: 'legacy', stateDir: dir }, children);
    const probe = (tag: string) => ['-c', `cat /proc/self/cgroup > ${out}/${tag}.cg; echo $PPID > ${out}/${tag}.ppid; cat /proc/$PPID/comm > ${out}/${tag}.pcomm; echo "\${REDIS_URL:-unset}" > ${out}/${tag}.env`];
    await q.add('ffrtmp', { id: 'legacy-1', command: 'sh', args: probe('legacy') }, { jobId: 'legacy-1' });
    const l = await finished(q, 'legacy-1');
    expect(l.state).toBe('completed');
    expect(l.job.returnvalue).toMatchObject({ path: 'legacy', job_id: 'legacy-1', exit_code: 0, signal: null, exit_source: 'child_process' });
    expect(l.job.returnvalue).not.toHaveProperty('platform_sla_reason');
    const read = (f: string) => fs.readFileSync(path.join(out, f), 'utf8').trim();
    expect(Number(read('legacy.ppid'))).toBe(agent.pid); // no keeper between them
    expect(read('legacy.cg')).toBe(fs.readFileSync(`/proc/${agent.pid}/cgroup`, 'utf8').trim()); // no job cgroup
    expect(read('legacy.env')).toBe('unset'); // the agent's settings stay with the agent
    expect(records(dir).filter((r) => r.job_id === 'legacy-1')).toEqual([]);
    expect(fs.existsSync(path.join(dir, 'open')) ? fs.readdirSync(path.join(dir, 'open')).filter((n) => n.endsWith('.json')) : []).toEqual([]);

    // The same probe on the wrapper path, to show the test can tell the difference.
    await q.add('ffrtmp', { id: 'wrapped-1', command: 'sh', args: probe('wrapped'), wrapper_enabled: true }, { jobId: 'wrapped-1' });
    const w = await finished(q, 'wrapped-1');
    expect(w.state).toBe('completed');
    expect(read('wrapped.pcomm')).toBe('ffrtmp-keeper');
    if (cgroups) expect(read('wrapped.cg')).toContain('/wrapped-1.');
    expect(records(dir).filter((r) => r.job_id === 'wrapped-1').map((r) => r.type)).toEqual(['started', 'result']);
  });

  it('the kill switch and the settings from the environment: WRAPPER_ENABLED=false sends a job that asks for the wrapper down the legacy path', async () => {
    const dir = stateDir('switch');
    const q = queue('switch');
    const agent = startFfrtmp(['agent', '--state-dir', dir, '--no-listen'], {
      REDIS_URL: redis.url, QUEUES: 'switch', MAX_JOBS: '2', WORKER_ID: 'edge-env', WRAPPER_ENABLED: 'false', LOCK_DURATION_MS: '5000',
    });
    children.push(agent);
    await waitFor(() => agent.output().stderr.includes('taking jobs from'), 20_000);
    expect(agent.output().stderr).toContain('agent edge-env taking jobs from queue switch');
    expect(agent.output().stderr).toContain('concurrency 2, wrapper off (kill switch: every job takes the legacy path)');
    await q.add('ffrtmp', { id: 'asks-wrapper', command: 'sh', args: ['-c', 'exit 0'], wrapper_enabled: true }, { jobId: 'asks-wrapper' });
    const f = await finished(q, 'asks-wrapper');
    expect(f.job.returnvalue).toMatchObject({ path: 'legacy', exit_code: 0 });
    expect(f.job.processedBy).toBe('edge-env');
    expect(records(dir)).toEqual([]);
  });

  it('one agent per state dir: a second one is refused while the first lives, and takes over once it is gone', async () => {
    const dir = stateDir('one');
    const first = await startAgent({ redis, queue: 'one', stateDir: dir, workerId: 'first' }, children);
    const second = await ffrtmp(['agent', '--redis', redis.url, '--queue', 'one', '--state-dir', dir, '--worker-id', 'second', '--no-listen']);
    expect(second.code).toBe(2);
    expect(second.stderr).toMatch(new RegExp(`^ffrtmp: the state dir .* is used by another agent \\(pid ${first.pid}, worker id first\\): one agent per state dir$`, 'm'));
    first.kill('SIGKILL');
    await new Promise((r) => first.once('exit', r));
    const third = await startAgent({ redis, queue: 'one', stateDir: dir, workerId: 'third' }, children);
    expect(third.exitCode).toBeNull();
  });

  it('ffrtmp submit --wait prints the summary line and exits with the workload status; bad input is refused before anything is queued', async () => {
    const dir = stateDir('submit');
    await startAgent({ redis, queue: 'submit', stateDir: dir, concurrency: 2 }, children);
    const base = ['submit', '--redis', redis.url, '--queue', 'submit'];
    const wrapped = await ffrtmp([...base, '--job-id', 'sub-5', '--wrapper', '--memory-max', '128M', '--wait', '--', 'sh', '-c', 'exit 5'], { timeoutMs: 30_000 });
    expect(wrapped.code, wrapped.stderr).toBe(5);
    expect(summaries(wrapped.stderr)).toEqual([expect.objectContaining({ job: 'sub-5', sla: 'COMPLIANT', reason: 'workload_failed_platform_ok', exit: '5' })]);
    const legacy = await ffrtmp([...base, '--job-id', 'sub-0', '--wait', '--', 'sh', '-c', 'exit 0'], { timeoutMs: 30_000 });
    expect(legacy.code, legacy.stderr).toBe(0);
    expect(legacy.stderr).toMatch(/^JOB sub-0 \| path=legacy \| runtime=0s \| exit=0 \| pid=\d+$/m);
    const missing = await ffrtmp([...base, '--job-id', 'sub-127', '--wrapper', '--wait', '--', 'no-such-command-here'], { timeoutMs: 30_000 });
    expect(missing.code, missing.stderr).toBe(127);
    const queued = await ffrtmp([...base, '--job-id', 'sub-q', '--', 'true']);
    expect(queued).toMatchObject({ code: 0, stdout: 'sub-q\n' });
    const again = await ffrtmp([...base, '--job-id', 'sub-q', '--', 'true']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/^ffrtmp: queue submit already has a job sub-q \(\w+\): choose another id/);
    const badId = await ffrtmp([...base, '--job-id', 'bad id', '--', 'true']);
    expect(badId.code).toBe(2);
    expect(badId.stderr).toMatch(/^ffrtmp: the job would be refused: id: job id "bad id" is not allowed/);
    const badMem = await ffrtmp([...base, '--memory-max', '1000000', '--', 'true']);
    expect(badMem.code).toBe(2);
    expect(badMem.stderr).toContain('whole MiB');
  });
});
