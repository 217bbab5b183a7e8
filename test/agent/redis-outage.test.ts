/**
 * Redis unreachable at the agent's start, and restarted in the middle of a job: the agent says so
 * on stderr, keeps retrying, keeps its running job, and completes it once Redis is back: once.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testTempDir, waitFor } from '../helpers';
import { cleanup, finished, haveRedis, lines, producer, resultsOf, startAgent, startRedis, type AgentProcess, type TestRedis } from './support';

let redis: TestRedis;
const children: AgentProcess[] = [];
const queues: Queue[] = [];
const out = testTempDir('agent-redis');
const dir = path.join(out, 'state');

beforeAll(async () => {
  if (haveRedis) redis = await startRedis();
});
afterAll(async () => {
  await redis?.up().catch(() => undefined);
  await cleanup({ children, pids: [], stateDirs: [dir], queues, redis });
  fs.rmSync(out, { recursive: true, force: true });
});

const count = (text: string, s: string) => text.split(s).length - 1;

describe.skipIf(!haveRedis)('Redis outages', () => {
  it('unreachable at start, then restarted mid-job: said on stderr, retried, the running job kept and completed once', async () => {
    await redis.down();
    const agent = await startAgent({ redis, queue: 'outage', stateDir: dir, lockDurationMs: 15_000 }, children);
    await waitFor(() => agent.output().stderr.includes('Redis is unreachable (ECONNREFUSED): retrying with backoff; running jobs continue'), 10_000);
    await redis.up();
    const q = producer(redis, 'outage');
    queues.push(q);
    const marker = path.join(out, 'runs');
    await q.add('ffrtmp', { id: 'through', command: 'sh', args: ['-c', `echo run >> ${marker}; sleep 3; exit 0`], wrapper_enabled: true }, { jobId: 'through' });
    await waitFor(() => lines(marker).length === 1, 20_000);
    expect(agent.output().stderr).toContain('Redis is reachable again');

    await redis.down(); // mid-job
    await waitFor(() => count(agent.output().stderr, 'Redis is unreachable') === 2, 10_000);
    await new Promise((r) => setTimeout(r, 1500));
    await redis.up(); // same data (AOF): the job and its lock are there

    const f = await finished(q, 'through', 30_000);
    expect(f.state).toBe('completed');
    expect(f.job.returnvalue).toMatchObject({ job_id: 'through', exit_code: 0 });
    expect(f.job).toMatchObject({ attemptsStarted: 1, attemptsMade: 1 });
    expect(lines(marker)).toHaveLength(1);
    expect(resultsOf(dir, 'through')).toHaveLength(1);
    expect(count(agent.output().stderr, 'Redis is reachable again')).toBe(2);
    expect(agent.exitCode).toBeNull();
  });
});
