/**
 * The agent's endpoint on a real Redis with real agents: /metrics after a wrapper job and a legacy
 * job (the journal's counters as `serve` exports them, and the agent's), /ready while Redis is
 * stopped and once it is back, /health's reasons.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exited, ffrtmp, freePort, testTempDir, waitFor } from '../helpers';
import { cleanup, eventually, finished, haveRedis, ledger, lines, producer, startAgent, startRedis, type AgentProcess, type TestRedis } from './support';

let redis: TestRedis;
const children: AgentProcess[] = [];
const queues: Queue[] = [];
const out = testTempDir('agent-endpoint');
const dirA = path.join(out, 'state-a');
const dirB = path.join(out, 'state-b');
const dirC = path.join(out, 'state-c');
const dirD = path.join(out, 'state-d');

beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterAll(async () => {
  await redis?.up().catch(() => undefined);
  await cleanup({ children, pids: [], stateDirs: [dirA, dirB, dirC, dirD], queues, redis });
  fs.rmSync(out, { recursive: true, force: true });
});

async function get(url: string): Promise<{ status: number; text: string }> {
  const r = await fetch(url);
  return { status: r.status, text: await r.text() };
}
/** The value of one sample line of a Prometheus text. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe.skipIf(!haveRedis)('ffrtmp agent --listen', () => {
  it('/metrics: the journal counters of serve and the agent counters, after a wrapper job and a legacy job', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const agent = await startAgent({ redis, queue: 'metrics', stateDir: dirA, concurrency: 2, extra: ['--listen', `127.0.0.1:${port}`] }, children);
    expect(agent.output().stderr).toContain(`endpoint ${base} (/metrics /health /ready)`);
    const q = producer(redis, 'metrics');
    queues.push(q);
    await q.add('ffrtmp', { id: 'm-wrapped', command: 'sh', args: ['-c', 'exit 0'], wrapper_enabled: true }, { jobId: 'm-wrapped' });
    await q.add('ffrtmp', { id: 'm-legacy', command: 'sh', args: ['-c', 'exit 4'] }, { jobId: 'm-legacy' });
    await q.add('ffrtmp', { id: 'm-bad', args: [] }, { jobId: 'm-bad' });
    expect((await finished(q, 'm-wrapped')).state).toBe('completed');
    expect((await finished(q, 'm-legacy')).state).toBe('failed');
    expect((await finished(q, 'm-bad')).state).toBe('failed');

    const m = await eventually(async () => {
      const r = await get(`${base}/metrics`);
      return sample(r.text, 'ffrtmp_agent_jobs_total{path="legacy",outcome="failed"}') === 1 && sample(r.text, 'ffrtmp_agent_jobs_total{path="none",outcome="refused"}') === 1 ? r : undefined;
    });
    expect(m.status).toBe(200);
    const t = m.text;
    // The journal's counters (wrapper path only: the legacy path keeps no journal).
    expect(sample(t, 'ffrtmp_jobs_total{state="started"}')).toBe(1);
    expect(sample(t, 'ffrtmp_jobs_total{state="completed"}')).toBe(1);
    expect(sample(t, 'ffrtmp_jobs_by_exit_total{exit="0"}')).toBe(1);
    expect(sample(t, 'ffrtmp_jobs_running')).toBe(0);
    // The agent's.
    expect(sample(t, 'ffrtmp_agent_jobs_total{path="wrapper",outcome="received"}')).toBe(1);
    expect(sample(t, 'ffrtmp_agent_jobs_total{path="wrapper",outcome="completed"}')).toBe(1);
    expect(sample(t, 'ffrtmp_agent_jobs_total{path="wrapper",outcome="failed"}')).toBe(0);
    expect(sample(t, 'ffrtmp_agent_jobs_total{path="legacy",outcome="received"}')).toBe(1);
    expect(sample(t, 'ffrtmp_agent_jobs_total{path="legacy",outcome="completed"}')).toBe(0);
    expect(sample(t, 'ffrtmp_agent_jobs_active')).toBe(0);
    expect(sample(t, 'ffrtmp_agent_concurrency')).toBe(2);
    expect(sample(t, 'ffrtmp_agent_adopted_total')).toBe(0);
    expect(sample(t, 'ffrtmp_agent_lock_renewals_failed_total')).toBe(0);
    expect(sample(t, 'ffrtmp_agent_redis_up')).toBe(1);

    const h = await get(`${base}/health`);
    expect(h.status).toBe(200);
    expect(JSON.parse(h.text)).toMatchObject({ status: 'healthy', reasons: [], redis: { up: true }, jobs: { active: 0, concurrency: 2 }, journal: { writable: true }, ledger: { writable: true } });
    expect((await get(`${base}/ready`)).status).toBe(200);
    expect((await get(`${base}/nope`)).status).toBe(404);
    expect((await fetch(`${base}/metrics`, { method: 'POST' })).status).toBe(405);

    agent.kill('SIGTERM');
    await eventually(async () => agent.exitCode !== null);
    expect(agent.exitCode).toBe(0);
  });

  it('/ready is 503 while Redis is stopped and 200 once it is back; /health says degraded, then unhealthy past the lock duration; an unwritable ledger is a reason', async () => {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const agent = await startAgent({ redis, queue: 'ready', stateDir: dirB, lockDurationMs: 3000, extra: ['--listen', `127.0.0.1:${port}`] }, children);
    await eventually(async () => (await get(`${base}/ready`)).status === 200);

    await redis.down();
    const notReady = await eventually(async () => {
      const r = await get(`${base}/ready`);
      return r.status === 503 ? r : undefined;
    });
    expect(JSON.parse(notReady.text)).toMatchObject({ ready: false, reasons: [expect.stringMatching(/^Redis out of reach/)] });
    const degraded = JSON.parse((await get(`${base}/health`)).text);
    expect(degraded).toMatchObject({ status: 'degraded', redis: { up: false } });
    expect(degraded.reasons[0]).toMatch(/^Redis out of reach \(.+\) for \d+ s: retrying with backoff/);
    const unhealthy = await eventually(async () => {
      const r = await get(`${base}/health`);
      return r.status === 503 ? r : undefined;
    }, 15_000);
    expect(JSON.parse(unhealthy.text)).toMatchObject({ status: 'unhealthy', reasons: [expect.stringMatching(/longer than the lock duration \(3 s\)/)] });
    expect(sample((await get(`${base}/metrics`)).text, 'ffrtmp_agent_redis_up')).toBe(0);

    await redis.up();
    await eventually(async () => (await get(`${base}/ready`)).status === 200, 20_000);
    expect(JSON.parse((await get(`${base}/health`)).text)).toMatchObject({ status: 'healthy', redis: { up: true } });
    expect(sample((await get(`${base}/metrics`)).text, 'ffrtmp_agent_redis_up')).toBe(1);

    // The ledger's directory gone (root writes anywhere, so not a chmod): degraded, said why.
    const jobs = path.join(dirB, 'agent', 'jobs');
    fs.renameSync(jobs, `${jobs}.aside`);
    try {
      const h = await get(`${base}/health`);
      expect(h.status).toBe(200);
      const body = JSON.parse(h.text);
      expect(body).toMatchObject({ status: 'degraded', ledger: { writable: false, error: 'ENOENT' }, journal: { writable: true } });
      expect(body.reasons).toEqual([expect.stringMatching(/^the ledger .* cannot be written \(ENOENT\): new jobs are refused/)]);
    } finally {
      fs.renameSync(`${jobs}.aside`, jobs);
    }
    expect(JSON.parse((await get(`${base}/health`)).text)).toMatchObject({ status: 'healthy' });
    agent.kill('SIGTERM');
    await eventually(async () => agent.exitCode !== null);
  });
  it('/ready after a kill -9: 503 while the restarted agent has not re-taken the lock of the job it inherited (Redis down), 200 once it has; adopted and active counted', async () => {
    const q = producer(redis, 'adopt');
    queues.push(q);
    const marker = path.join(out, 'adopt-runs');
    const first = await startAgent({ redis, queue: 'adopt', stateDir: dirC, lockDurationMs: 20_000 }, children);
    await q.add('ffrtmp', { id: 'inherited', command: 'sh', args: ['-c', `echo $$ >> ${marker}; sleep 8; exit 0`] }, { jobId: 'inherited' });
    await waitFor(() => lines(marker).length === 1 && typeof ledger(dirC)[0]?.pid === 'number', 20_000);
    first.kill('SIGKILL');
    await exited(first);
    await redis.down();

    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    await startAgent({ redis, queue: 'adopt', stateDir: dirC, lockDurationMs: 20_000, extra: ['--listen', `127.0.0.1:${port}`] }, children);
    const r = await get(`${base}/ready`);
    expect(r.status).toBe(503);
    expect(JSON.parse(r.text).reasons).toEqual([expect.stringMatching(/^Redis /), 'taking back 1 job(s) an earlier agent held: their queue locks are not looked at yet']);
    expect(JSON.parse((await get(`${base}/health`)).text)).toMatchObject({ adoption: { jobs: 1, done: false }, jobs: { active: 1 } });

    await redis.up();
    await eventually(async () => (await get(`${base}/ready`)).status === 200, 20_000);
    expect(JSON.parse((await get(`${base}/health`)).text)).toMatchObject({ status: 'healthy', adoption: { jobs: 1, done: true } });
    const t = (await get(`${base}/metrics`)).text;
    expect(sample(t, 'ffrtmp_agent_adopted_total')).toBe(1);
    expect(sample(t, 'ffrtmp_agent_jobs_active')).toBe(1);
    expect(sample(t, 'ffrtmp_agent_jobs_total{path="legacy",outcome="received"}')).toBe(0); // taken back, not received
    const f = await finished(q, 'inherited', 20_000);
    expect(['completed', 'failed']).toContain(f.state); // the legacy path keeps no status for an inherited child (pidfd info may)
    expect(lines(marker)).toHaveLength(1);
    expect(sample((await get(`${base}/metrics`)).text, 'ffrtmp_agent_jobs_active')).toBe(0);
  }, 60_000);
  it('a second agent on the same state dir and --listen is told the state dir is taken (exit 2); a port in use is exit 125 and leaves the state dir free', async () => {
    const port = await freePort();
    const listen = ['--listen', `127.0.0.1:${port}`];
    const first = await startAgent({ redis, queue: 'clash', stateDir: dirD, extra: listen }, children);
    const args = (dir: string) => ['agent', '--redis', redis.url, '--queue', 'clash', '--state-dir', dir, '--worker-id', 'second', ...listen];
    const same = await ffrtmp(args(dirD));
    expect(same.code).toBe(2);
    expect(same.stderr).toMatch(/is used by another agent/);
    const other = path.join(out, 'state-e');
    const busy = await ffrtmp(args(other));
    const lockLeft = fs.existsSync(path.join(other, 'agent', 'agent.lock'));
    fs.rmSync(other, { recursive: true, force: true });
    expect(lockLeft).toBe(false); // it gave back the state dir it had claimed
    expect(busy.code).toBe(125);
    expect(busy.stderr).toContain(`cannot listen on 127.0.0.1:${port}: EADDRINUSE`);
    first.kill('SIGTERM');
    await exited(first);
    // The first one's state dir is free again once it stopped.
    const again = await startAgent({ redis, queue: 'clash', stateDir: dirD, extra: listen }, children);
    again.kill('SIGTERM');
    await exited(again);
  });
});
